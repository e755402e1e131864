"""A run's evaluation: prediction files paired with label files, the test metrics, the noise floor.

Evaluate Model computes them in the cloud and offline; the report reads the same code. Files are read as
streams, so memory stays flat however large the test set.
"""

from __future__ import annotations

import codecs
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from botocore.exceptions import ClientError

_S3_URI = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(?P<key>.*)")


class InvalidEvaluationRequest(ValueError):
    """The event does not name the predictions, the labels and where to write the metrics."""


class PredictionCountMismatch(RuntimeError):
    """The predictions and the labels have different numbers of rows: the metrics would be meaningless."""


class InvalidPredictionData(ValueError):
    """A prediction or a label is not a number, or there is nothing to evaluate."""


class EvaluationDataNotFound(RuntimeError):
    """The predictions or the labels cannot be read from S3."""


class UnpairedEvaluationFile(RuntimeError):
    """A prediction file has no labels file of the same name, or a labels file no prediction file."""


@dataclass(frozen=True)
class Metrics:
    rows: int
    rmse: float
    mae: float
    r2: float | None  # undefined when every label is the same
    labelMean: float  # camelCase: the state machine reads these keys


def parse_s3_uri(value: Any, key: str) -> tuple[str, str]:
    if not isinstance(value, str):
        raise InvalidEvaluationRequest(f"'{key}' must be an s3:// URI string, got {type(value).__name__}")
    match = _S3_URI.fullmatch(value)
    if not match:
        raise InvalidEvaluationRequest(f"'{key}' must look like s3://bucket/key, got {value[:200]!r}")
    return match["bucket"], match["key"]


def _lines(client: Any, bucket: str, key: str) -> Iterator[str]:
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code")
        raise EvaluationDataNotFound(f"cannot read s3://{bucket}/{key}: {code}") from e
    decoder = codecs.getincrementaldecoder("utf-8")()
    pending = ""
    try:
        for chunk in body.iter_chunks(1024 * 1024):
            pending += decoder.decode(chunk)
            *complete, pending = pending.split("\n")
            yield from complete
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as e:
        raise InvalidPredictionData(f"s3://{bucket}/{key} is not UTF-8 text: {e.reason}") from e
    if pending:
        yield pending


def _numbers(lines: Iterator[str], where: str) -> Iterator[float]:
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        # A transform output joined with its input has the prediction last.
        field = text.rsplit(",", 1)[-1]
        try:
            value = float(field)
        except ValueError:
            raise InvalidPredictionData(f"{where} line {number} is not a number: {text[:80]!r}") from None
        if not math.isfinite(value):
            raise InvalidPredictionData(f"{where} line {number} is not finite: {text[:80]!r}")
        yield value


def _list_keys(client: Any, bucket: str, prefix: str, keep: Callable[[str], bool], what: str) -> list[str]:
    """The sorted keys under ``prefix`` that ``keep`` accepts; none, or a listing error, is named."""
    paginator = client.get_paginator("list_objects_v2")
    try:
        keys = [
            item["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
            if keep(item["Key"])
        ]
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code")
        raise EvaluationDataNotFound(f"cannot list s3://{bucket}/{prefix}: {code}") from e
    if not keys:
        raise EvaluationDataNotFound(f"no {what} under s3://{bucket}/{prefix}")
    return sorted(keys)


def prediction_keys(client: Any, bucket: str, prefix: str) -> list[str]:
    return _list_keys(client, bucket, prefix, lambda key: key.endswith(".out"), "prediction file (*.out)")


def _below_last_slash(prefix: str) -> str:
    """The "directory" of a prefix: object names are taken relative to it (as batch transform names them)."""
    return prefix[: prefix.rfind("/") + 1]


def label_keys(client: Any, bucket: str, prefix: str) -> list[str]:
    """The objects under the labels prefix (or the one object a full key names)."""
    return _list_keys(client, bucket, prefix, lambda key: not key.endswith("/"), "labels file")


def evaluation_pairs(
    client: Any, predictions_uri: str, labels_uri: str
) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """((bucket, predictions key), (bucket, labels key)) for every ``<x>.csv.out`` and its ``<x>.csv``.

    Names are compared below each prefix's last "/", so ``labelsUri`` may be a prefix (``.../test-labels/``)
    or one object (``.../test-labels/test.csv``). Every file must have its pair.
    """
    p_bucket, p_prefix = parse_s3_uri(predictions_uri, "predictionsUri")
    l_bucket, l_prefix = parse_s3_uri(labels_uri, "labelsUri")
    p_dir, l_dir = _below_last_slash(p_prefix), _below_last_slash(l_prefix)
    predictions = {key[len(p_dir) : -len(".out")]: key for key in prediction_keys(client, p_bucket, p_prefix)}
    labels = {key[len(l_dir) :]: key for key in label_keys(client, l_bucket, l_prefix)}
    for name, key in predictions.items():
        if name not in labels:
            raise UnpairedEvaluationFile(
                f"the prediction file s3://{p_bucket}/{key} has no labels file "
                f"s3://{l_bucket}/{l_dir}{name}: every <x>.out under {predictions_uri} needs <x> under "
                f"{labels_uri}"
            )
    for name, key in labels.items():
        if name not in predictions:
            raise UnpairedEvaluationFile(
                f"the labels file s3://{l_bucket}/{key} has no prediction file "
                f"s3://{p_bucket}/{p_dir}{name}.out: the batch transform did not predict that test file"
            )
    return [((p_bucket, predictions[name]), (l_bucket, labels[name])) for name in sorted(predictions)]


def paired_values(
    client: Any, pairs: list[tuple[tuple[str, str], tuple[str, str]]]
) -> Iterator[tuple[float, float]]:
    """(prediction, label) of every row of every pair; a pair whose row counts differ is an error."""
    missing = object()
    for (p_bucket, p_key), (l_bucket, l_key) in pairs:
        p_uri, l_uri = f"s3://{p_bucket}/{p_key}", f"s3://{l_bucket}/{l_key}"
        predictions = _numbers(_lines(client, p_bucket, p_key), p_uri)
        labels = _numbers(_lines(client, l_bucket, l_key), l_uri)
        for rows, (prediction, label) in enumerate(zip_longest(predictions, labels, fillvalue=missing)):
            if prediction is missing or label is missing:
                rest = predictions if label is missing else labels
                longer, shorter = ("predictions", "labels") if label is missing else ("labels", "predictions")
                raise PredictionCountMismatch(
                    f"{rows + 1 + sum(1 for _ in rest)} {longer} but {rows} {shorter}: the predictions "
                    f"{p_uri} and the labels {l_uri} must have one row per test record"
                )
            yield prediction, label  # type: ignore[misc]


def evaluate(client: Any, predictions_uri: str, labels_uri: str) -> Metrics:
    """The test metrics of every ``<x>.csv.out`` under ``predictions_uri`` against its labels ``<x>.csv``."""
    pairs = evaluation_pairs(client, predictions_uri, labels_uri)
    return evaluate_pairs(client, pairs, where=f"{predictions_uri} and {labels_uri}")


def evaluate_pairs(
    client: Any,
    pairs: list[tuple[tuple[str, str], tuple[str, str]]],
    on_row: Callable[[float, float], None] | None = None,
    *,
    where: str,
) -> Metrics:
    """One pass over every pair of files (``evaluation_pairs``): sums for RMSE, MAE and R squared (Welford
    for the label variance). One rule serves one test file (``test.csv``) and a sharded data set
    (``part-00000.csv``...). ``on_row(prediction, label)`` sees every row (the report samples them);
    ``where`` names the data in the error when there is no row."""
    rows = 0
    squared = absolute = mean = m2 = 0.0
    for prediction, label in paired_values(client, pairs):
        if on_row is not None:
            on_row(prediction, label)
        rows += 1
        error = prediction - label
        squared += error * error
        absolute += abs(error)
        delta = label - mean
        mean += delta / rows
        m2 += delta * (label - mean)
    if rows == 0:
        raise InvalidPredictionData(f"no rows to evaluate in {where}")
    return Metrics(
        rows=rows,
        rmse=math.sqrt(squared / rows),
        mae=absolute / rows,
        r2=(1.0 - squared / m2) if m2 > 0 else None,
        labelMean=mean,
    )


def noise_floor_rmse(dataset: Any) -> float | None:
    """The noise floor of the whole test set: ``dataset.noiseFloorRmse``, or pooled over the shards.

    A sharded data set (``dataset.shardResults``, the Map's results) has one sum of squared noise per shard:
    the floor is sqrt(sum of the sums / all test rows), not a mean of the shards' floors.
    """
    if not isinstance(dataset, Mapping):
        return None
    results = dataset.get("shardResults")
    if results is None:
        return dataset.get("noiseFloorRmse")
    if not isinstance(results, list) or not results:
        raise InvalidEvaluationRequest("'dataset.shardResults' must be a non-empty list of shard results")
    squared, rows = 0.0, 0
    for number, result in enumerate(results):
        counts = result.get("rows") if isinstance(result, Mapping) else None
        shard_rows = counts.get("test") if isinstance(counts, Mapping) else None
        sum_sq = result.get("testNoiseSumOfSquares") if isinstance(result, Mapping) else None
        if (
            isinstance(shard_rows, bool)
            or not isinstance(shard_rows, int)
            or shard_rows < 0
            or isinstance(sum_sq, bool)
            or not isinstance(sum_sq, (int, float))
            or not math.isfinite(sum_sq)
            or sum_sq < 0
        ):
            raise InvalidEvaluationRequest(
                f"'dataset.shardResults[{number}]' must have rows.test (a count) and testNoiseSumOfSquares "
                "(a number of at least 0)"
            )
        squared += sum_sq
        rows += shard_rows
    if rows == 0:
        raise InvalidEvaluationRequest("'dataset.shardResults' holds no test rows")
    return round(math.sqrt(squared / rows), 6)
