"""A run's objects in moto's S3, as the workflow leaves them, for the report to read."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import BUCKET_NAME

PREFIX = "runs/nightly-1-0123456789ab/"
TUNING_JOB = "nightly-1-0123456789ab"


def training_job(
    index: int, status: str = "Completed", value: float | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "name": f"{TUNING_JOB}-{index:03d}-0000abcd",
        "status": status,
        "creationTime": f"2026-11-28T10:{index:02d}:00+00:00",
        "startTime": f"2026-11-28T10:{index:02d}:30+00:00",
        "endTime": f"2026-11-28T10:{index + 1:02d}:30+00:00",
        "objectiveStatus": "Succeeded" if value is not None else "Failed",
        "objectiveValue": value,
        "hyperparameters": {"eta": f"0.{index}", "max_depth": str(index)},
        "failureReason": None,
        **extra,
    }


def history(best: int | None = 3) -> dict[str, Any]:
    return {
        "tuningJobName": TUNING_JOB,
        "tuningJobStatus": "Completed",
        "objectiveMetric": "validation:rmse",
        "objectiveType": "Minimize",
        "bestTrainingJobName": f"{TUNING_JOB}-{best:03d}-0000abcd" if best else None,
        "trainingJobs": [
            training_job(1, value=1.8),
            training_job(2, "Failed", FailureReason=None, failureReason="AlgorithmError: <out of memory>"),
            training_job(3, value=1.2),
            training_job(4, value=1.5),
        ],
    }


@pytest.fixture
def put(s3_client: Any, bucket: str) -> Callable[[str, Any], None]:
    """``put("tuning/training-jobs.json", {...})``: an object under the run's prefix (dicts as JSON)."""

    def write(key: str, body: Any) -> None:
        data = json.dumps(body) if isinstance(body, (dict, list)) else body
        s3_client.put_object(
            Bucket=BUCKET_NAME, Key=PREFIX + key, Body=data.encode() if isinstance(data, str) else data
        )

    return write


def lines(values: list[float]) -> str:
    return "".join(f"{v}\n" for v in values)
