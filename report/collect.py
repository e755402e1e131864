"""What a report shows, read from a run's objects in S3 (the same code for the offline run and the cloud).

A run keeps everything under ``runs/<run name>/`` in the data bucket:

- ``tuning/training-jobs.json``: every training job of the tuning job (Extract Model Path writes it);
- ``data/test-labels/*.csv``: the test labels, one a line;
- ``predictions/*.out``: the batch transform's predictions, one a line (``<x>.csv.out`` for ``<x>.csv``);
- ``evaluation/metrics.json``: the test metrics (Evaluate Model writes it; computed here, with its code, when
  absent, together with the sample of points the report plots).

A missing or inconsistent object does not stop the report: it is listed among the report's problems, and
the sections that need it say so. Only a run with none of these objects is an error (``ReportInputError``):
the bucket or the prefix is wrong.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from functions.evaluate_model import evaluation
from functions.extract_model_path.tuning_history import HISTORY_KEY

METRICS_KEY = "evaluation/metrics.json"
LABELS_PREFIX = "data/test-labels/"
PREDICTIONS_PREFIX = "predictions/"
# The scatter of predicted against actual shows a uniform sample of at most this many test rows.
MAX_POINTS = 5000
SAMPLE_SEED = 20261128


# What Evaluate Model raises for data it cannot evaluate: the report shows it as a problem.
_EVALUATION_ERRORS = (
    evaluation.EvaluationDataNotFound,
    evaluation.UnpairedEvaluationFile,
    evaluation.PredictionCountMismatch,
    evaluation.InvalidPredictionData,
    evaluation.InvalidEvaluationRequest,
)


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
    """(bucket, key) of an s3:// URI, parsed as Evaluate Model parses one."""
    try:
        return evaluation.parse_s3_uri(uri, "uri")
    except evaluation.InvalidEvaluationRequest as e:
        raise ReportInputError(str(e)) from None


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


def read_test_set(
    s3: Any, predictions_uri: str, labels_uri: str, problems: list[str]
) -> PredictionSet | None:
    """The test metrics as Evaluate Model computes them (its own code: the same pairing, the same sums), and
    a reservoir sample of the points."""
    rng = random.Random(SAMPLE_SEED)  # a reproducible sample for a figure, not a secret  # noqa: S311
    test = PredictionSet()

    def sample(predicted: float, actual: float) -> None:
        test.rows += 1
        if len(test.points) < MAX_POINTS:
            test.points.append((actual, predicted))
        else:
            slot = rng.randrange(test.rows)
            if slot < MAX_POINTS:
                test.points[slot] = (actual, predicted)

    try:
        pairs = evaluation.evaluation_pairs(s3, predictions_uri, labels_uri)
        test.files = [(labels_key, predictions_key) for (_, predictions_key), (_, labels_key) in pairs]
        metrics = evaluation.evaluate_pairs(s3, pairs, sample, where=f"{predictions_uri} and {labels_uri}")
    except _EVALUATION_ERRORS as e:
        problems.append(f"no metric or point is shown: {e}")
        return None
    test.rmse, test.mae, test.r2 = metrics.rmse, metrics.mae, metrics.r2
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
    data.test = read_test_set(
        s3,
        f"s3://{bucket}/{_predictions_prefix(prefix, data.output)}",
        f"s3://{bucket}/{_labels_prefix(prefix, data.output)}",
        data.problems,
    )
    return data
