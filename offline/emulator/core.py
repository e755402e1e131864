"""What every part of the emulator shares: the stores of jobs, the locks, S3, events, ARNs, small helpers."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from offline.emulator.faults import Faults
from offline.request_validation import validate_request

logger = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]

MAX_FAILURE_REASON = 1024
DEFAULT_LIST_MAX_RESULTS = 10


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    return "aws"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key or prefix) of an ``s3://`` URI."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def json_safe(value: Any) -> Any:
    """A copy of ``value`` that ``json.dumps`` accepts (datetimes as ISO 8601 strings)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value
    try:
        return float(value)  # numpy numbers
    except (TypeError, ValueError):
        return str(value)


class Store:
    """The emulator's state: every resource it created, keyed as SageMaker keys them, and what guards it."""

    def __init__(self, s3_client: Any, region: str, account_id: str, listener: Listener | None) -> None:
        self.s3 = s3_client
        self.region = region
        self.account_id = account_id
        self.partition = partition_of(region)
        self.listener = listener
        self.lock = threading.RLock()
        # Training jobs run in threads: S3 calls (moto's S3 is not known to be thread-safe) and the channel
        # cache are taken one at a time, and listeners see one event at a time.
        self.s3_lock = threading.RLock()
        self._emit_lock = threading.RLock()
        self.tuning_jobs: dict[str, Any] = {}  # by lower-case name: names are not case sensitive
        self.training_jobs: dict[str, Any] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.transform_jobs: dict[str, dict[str, Any]] = {}
        self.transform_stops: dict[str, threading.Event] = {}
        self.tags: dict[str, list[dict[str, str]]] = {}
        self.faults = Faults(self.lock)

    def begin(self, operation: str, request: dict[str, Any]) -> None:
        """Every API call starts here: an injected fault, then botocore's input shape."""
        error = self.faults.next_error(operation)
        if error is not None:
            raise error
        validate_request(operation, request)

    def emit(self, event: str, data: dict[str, Any]) -> None:
        if self.listener is None:
            return
        try:
            with self._emit_lock:
                self.listener(event, json_safe(data))
        except Exception:  # a progress printer must never break a job
            logger.exception("the listener failed on %s", event)

    def arn(self, kind: str, name: str) -> str:
        return f"arn:{self.partition}:sagemaker:{self.region}:{self.account_id}:{kind}/{name.lower()}"

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/"))
        return sorted(keys)
