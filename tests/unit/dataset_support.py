"""What the tests of the dataset function share: the event the state machine sends, and readers of S3."""

from __future__ import annotations

import csv
import io
import math
import re
from typing import Any

from botocore.exceptions import ClientError

from tests.conftest import load_event

STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:execution:TuningStateMachine-AbC123"
START = "2026-11-28T10:00:00.000Z"
TUNING_JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}")
JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
# SageMaker names a tuning job's training jobs <tuning job name>-<3 digits>-<8 hex>.
TRAINING_JOB_SUFFIX = "-007-1a2b3c4d"
DEFAULT_INPUT = {"trainRows": 10_000, "validationRows": 2_000, "testRows": 2_000, "noise": 1.0, "seed": 42}
SMALL_INPUT = {"trainRows": 300, "validationRows": 60, "testRows": 80, "noise": 1.0, "seed": 3}
SMALL_PART = 16 * 1024
# With 16 KiB parts: train, validation and test features go up in 3 parts or more, the labels in one put.
MULTIPART_INPUT = {"trainRows": 1_000, "validationRows": 400, "testRows": 400, "noise": 1.0, "seed": 3}
S3_MIN_PART = 5 * 1024 * 1024


def event_for(
    execution_input: Any = None,
    *,
    name: str = "3f6c1b2e-9a4d-4c7e-8b21-5d0e7a9f4c13",
    state_machine: str = STATE_MACHINE,
    start: str = START,
) -> dict[str, Any]:
    return {
        "input": {} if execution_input is None else execution_input,
        # The template's defaults and the search space, as the state machine sends them.
        "defaults": load_event("generate_dataset")["defaults"],
        "search": load_event("generate_dataset")["search"],
        "execution": {"id": f"{state_machine}:{name}", "name": name, "startTime": start},
    }


def friedman1(x: list[float]) -> float:
    """The noiseless target, written out again from its formula (independent of the handler)."""
    return 10 * math.sin(math.pi * x[0] * x[1]) + 20 * (x[2] - 0.5) ** 2 + 10 * x[3] + 5 * x[4]


def read_object(s3_client: Any, bucket: str, key: str) -> bytes:
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


def read_rows(s3_client: Any, bucket: str, key: str) -> list[list[float]]:
    """The CSV as numbers; float() fails on a header or an empty cell."""
    text = read_object(s3_client, bucket, key).decode("ascii")
    return [[float(cell) for cell in row] for row in csv.reader(io.StringIO(text))]


def all_keys(s3_client: Any, bucket: str) -> set[str]:
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def open_uploads(s3_client: Any, bucket: str) -> list[dict[str, Any]]:
    return s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def split_keys(dataset: dict[str, Any]) -> dict[str, str]:
    prefix = dataset["prefix"]
    return {
        "train": f"{prefix}data/train/train.csv",
        "validation": f"{prefix}data/validation/validation.csv",
        "test": f"{prefix}data/test/test.csv",
        "testLabels": f"{prefix}data/test-labels/test.csv",
    }


class RecordingClient:
    """Delegates to the (moto) S3 client and records the calls; can fail the n-th call of one operation."""

    def __init__(
        self, client: Any, fail: str | None = None, key_part: str = "", nth: int = 1, fail_abort: bool = False
    ) -> None:
        self._client, self._fail, self._key_part, self._nth = client, fail, key_part, nth
        self._fail_abort = fail_abort
        self._seen = 0
        self.failed = False
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, operation: str) -> Any:
        method = getattr(self._client, operation)

        def call(**kwargs: Any) -> Any:
            self.calls.append((operation, kwargs))
            key = kwargs.get("Key", "")
            if operation == self._fail and self._key_part in key:
                self._seen += 1
                if self._seen == self._nth:
                    self.failed = True
                    raise ClientError(
                        {"Error": {"Code": "InternalError", "Message": "We encountered an internal error."}},
                        operation,
                    )
            if operation == "abort_multipart_upload" and self._fail_abort:
                raise ClientError(
                    {"Error": {"Code": "SlowDown", "Message": "Please reduce your rate."}}, operation
                )
            return method(**kwargs)

        return call

    def operations(self, key: str) -> list[str]:
        return [operation for operation, kwargs in self.calls if kwargs.get("Key") == key]
