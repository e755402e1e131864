"""What a report shows, read from a run's objects in S3 (the same code for the offline run and the cloud).

A run keeps everything under ``runs/<run name>/`` in the data bucket:

- ``tuning/training-jobs.json``: every training job of the tuning job (Extract Model Path writes it);
- ``data/test-labels/*.csv``: the test labels, one a line;
- ``predictions/*.out``: the batch transform's predictions, one a line (``<x>.csv.out`` for ``<x>.csv``);
- ``evaluation/metrics.json``: the test metrics (Evaluate Model writes it; computed here when absent).

A missing or inconsistent object does not stop the report: it is listed among the report's problems, and
the sections that need it say so. Only a run with none of these objects is an error (``ReportInputError``):
the bucket or the prefix is wrong.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

HISTORY_KEY = "tuning/training-jobs.json"
METRICS_KEY = "evaluation/metrics.json"
LABELS_PREFIX = "data/test-labels/"
PREDICTIONS_PREFIX = "predictions/"
# The scatter of predicted against actual shows a uniform sample of at most this many test rows.
MAX_POINTS = 5000
SAMPLE_SEED = 20261128


class ReportInputError(RuntimeError):
    """The run cannot be found: no report input exists under the given bucket and prefix."""


@dataclass
class PredictionSet:
    """The test predictions against their labels: metrics over every row, a sample of the points."""

    rows: int = 0
    rmse: float | None = None
    mae: float | None = None
    r2: float | None = None
    # (actual, predicted), a uniform sample of at most MAX_POINTS rows
    points: list[tuple[float, float]] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)  # (labels key, predictions key)


@dataclass
class RunData:
    bucket: str
    prefix: str
    execution: dict[str, Any] = field(default_factory=dict)  # DescribeExecution (JSON-safe), when known
    output: dict[str, Any] = field(default_factory=dict)  # the execution's output, when it succeeded
    history: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    test: PredictionSet | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def run_name(self) -> str:
        return self.prefix.rstrip("/").rsplit("/", 1)[-1]

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ReportInputError(f"not an s3://bucket/key URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _read(s3: Any, bucket: str, key: str, problems: list[str]) -> bytes | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code")
        if code not in ("NoSuchKey", "404"):
            problems.append(f"cannot read s3://{bucket}/{key}: {code}")
        return None


def _read_json(
    s3: Any, bucket: str, key: str, what: str, problems: list[str], *, required: bool = True
) -> dict[str, Any] | None:
    body = _read(s3, bucket, key, problems)
    if body is None:
        if required:
            problems.append(f"no {what}: s3://{bucket}/{key} does not exist")
        return None
    try:
        value = json.loads(body)
    except ValueError as e:
        problems.append(f"{what} s3://{bucket}/{key} is not JSON: {e}")
        return None
    if not isinstance(value, dict):
        problems.append(f"{what} s3://{bucket}/{key} is not a JSON object")
        return None
    return value


def _keys(s3: Any, bucket: str, prefix: str, problems: list[str]) -> list[str]:
    try:
        return sorted(
            item["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
            if not item["Key"].endswith("/")
        )
    except ClientError as e:
        problems.append(f"cannot list s3://{bucket}/{prefix}: {e.response.get('Error', {}).get('Code')}")
        return []


def _basename(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def pair_files(labels: list[str], predictions: list[str], problems: list[str]) -> list[tuple[str, str]]:
    """Labels ``<x>.csv`` with predictions ``<x>.csv.out``; one file of each pairs whatever their names
    (the single-file layout names its labels test_labels.csv and its predictions test.csv.out)."""
    if not predictions:
        problems.append("no predictions (*.out): the batch transform did not run or wrote nothing")
        return []
    if not labels:
        problems.append("no test labels: nothing to compare the predictions with")
        return []
    by_name = {_basename(key): key for key in labels}
    pairs = [(by_name[_basename(p)[: -len(".out")]], p) for p in predictions if _basename(p)[:-4] in by_name]
    if len(pairs) == len(predictions) == len(labels):
        return pairs
    if len(labels) == len(predictions) == 1:
        return [(labels[0], predictions[0])]
    paired = {p for _, p in pairs} | {label for label, _ in pairs}
    unpaired = [_basename(key) for key in [*labels, *predictions] if key not in paired]
    problems.append(
        f"{len(labels)} labels files and {len(predictions)} predictions files do not pair as <x>.csv with "
        f"<x>.csv.out: unpaired {', '.join(unpaired[:10])}"
    )
    return []


def _lines(s3: Any, bucket: str, key: str) -> Iterator[str]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for line in body.iter_lines():
        text = line.decode("utf-8").strip()
        if text:
            yield text


class _BadRows(ValueError):
    pass


def _values(lines: Iterator[str], where: str) -> Iterator[float]:
    for number, text in enumerate(lines, start=1):
        # A transform output joined with its input has the prediction last (as Evaluate Model reads it).
        try:
            value = float(text.rsplit(",", 1)[-1])
        except ValueError:
            raise _BadRows(f"{where} line {number} is not a number: {text[:60]!r}") from None
        if not math.isfinite(value):
            raise _BadRows(f"{where} line {number} is not finite: {text[:60]!r}")
        yield value


def read_test_set(
    s3: Any, bucket: str, pairs: list[tuple[str, str]], problems: list[str]
) -> PredictionSet | None:
    """One pass over every pair: sums for the metrics, a reservoir sample of the points."""
    rng = random.Random(SAMPLE_SEED)  # a reproducible sample for a figure, not a secret  # noqa: S311
    test = PredictionSet(files=pairs)
    squared = absolute = mean = m2 = 0.0
    for labels_key, predictions_key in pairs:
        try:
            labels = list(_values(_lines(s3, bucket, labels_key), f"s3://{bucket}/{labels_key}"))
            predictions = list(
                _values(_lines(s3, bucket, predictions_key), f"s3://{bucket}/{predictions_key}")
            )
        except _BadRows as e:
            problems.append(str(e))
            return None
        except ClientError as e:
            problems.append(f"cannot read the test set: {e.response.get('Error', {}).get('Code')}")
            return None
        if not predictions:
            problems.append(f"s3://{bucket}/{predictions_key} is empty: no prediction to show")
            return None
        if len(predictions) != len(labels):
            problems.append(
                f"{len(predictions)} predictions in s3://{bucket}/{predictions_key} but {len(labels)} labels "
                f"in s3://{bucket}/{labels_key}: the rows do not match, so no metric or point is shown"
            )
            return None
        for actual, predicted in zip(labels, predictions, strict=True):
            test.rows += 1
            error = predicted - actual
            squared += error * error
            absolute += abs(error)
            delta = actual - mean
            mean += delta / test.rows
            m2 += delta * (actual - mean)
            if len(test.points) < MAX_POINTS:
                test.points.append((actual, predicted))
            else:
                slot = rng.randrange(test.rows)
                if slot < MAX_POINTS:
                    test.points[slot] = (actual, predicted)
    if test.rows == 0:
        problems.append("the test set has no rows")
        return None
    test.rmse = math.sqrt(squared / test.rows)
    test.mae = absolute / test.rows
    test.r2 = 1.0 - squared / m2 if m2 > 0 else None
    return test


def _labels_prefix(prefix: str, output: Mapping[str, Any]) -> str:
    uri = (output.get("dataset") or {}).get("testLabelsUri")
    if isinstance(uri, str) and uri.startswith("s3://"):
        _, key = split_s3_uri(uri)
        return key if key.endswith("/") else key.rsplit("/", 1)[0] + "/"
    return prefix + LABELS_PREFIX


def _predictions_prefix(prefix: str, output: Mapping[str, Any]) -> str:
    uri = (output.get("transform") or {}).get("outputUri")
    if isinstance(uri, str) and uri.startswith("s3://"):
        key = split_s3_uri(uri)[1]
        return key if key.endswith("/") else key + "/"
    return prefix + PREDICTIONS_PREFIX


def collect(
    s3: Any,
    bucket: str,
    prefix: str,
    *,
    execution: Mapping[str, Any] | None = None,
    output: Mapping[str, Any] | None = None,
) -> RunData:
    """Reads a run's report inputs from ``s3://bucket/prefix`` (prefix ``runs/<run name>/``)."""
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    data = RunData(bucket=bucket, prefix=prefix, execution=dict(execution or {}), output=dict(output or {}))
    if not _keys(s3, bucket, prefix, data.problems):
        raise ReportInputError(
            f"nothing under s3://{bucket}/{prefix}: check the bucket and the run "
            + (f"({'; '.join(data.problems)})" if data.problems else "(the run wrote no object)")
        )
    data.history = _read_json(s3, bucket, prefix + HISTORY_KEY, "training job history", data.problems)
    if data.history is not None and not isinstance(data.history.get("trainingJobs"), list):
        data.problems.append("the training job history has no trainingJobs list")
        data.history = None
    # Runs before the Evaluate Model state have no metrics file: the report computes them.
    data.metrics = _read_json(
        s3, bucket, prefix + METRICS_KEY, "evaluation metrics", data.problems, required=False
    )
    labels = _keys(s3, bucket, _labels_prefix(prefix, data.output), data.problems)
    predictions = [
        k
        for k in _keys(s3, bucket, _predictions_prefix(prefix, data.output), data.problems)
        if k.endswith(".out")
    ]
    pairs = pair_files(labels, predictions, data.problems)
    if pairs:
        data.test = read_test_set(s3, bucket, pairs, data.problems)
    return data
