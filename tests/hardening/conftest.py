"""Fixtures of the hardening tests: S3 write faults injected into a real boto3 client, small multipart parts.

The shared fixtures (moto, ``load_handler``, ``bucket``, events) are in ``tests/conftest.py``; the offline
engine fixtures are in ``tests/offline/conftest.py`` and are imported here for the workflow tests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import s3_stream
from botocore.awsrequest import AWSResponse

from tests.offline.conftest import make_engine, sagemaker_events  # noqa: F401 -- fixtures reused here

# The S3 operations that create or finish an object; reads, lists, aborts and deletes are not faulted.
S3_WRITES = frozenset({"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"})
SMALL_PART = 4 * 1024


class S3WriteFaults:
    """Counts every S3 write a client makes and fails the ``fail_at``-th one (0-based), as S3 would.

    The failure is answered in botocore's ``before-call`` event, the hook botocore's Stubber uses: the
    client raises the ClientError S3's 500 InternalError gives (no request reaches moto, no SDK retry).
    """

    def __init__(self) -> None:
        self.fail_at: int | None = None
        self.code = "InternalError"
        self.status = 500
        self.calls: list[tuple[str, str]] = []
        self.failed: tuple[str, str] | None = None
        self._lock = threading.Lock()

    def install(self, client: Any) -> None:
        client.meta.events.register_first("before-call.s3", self._before_call)

    def reset(self, fail_at: int | None = None) -> None:
        with self._lock:
            self.fail_at, self.calls, self.failed = fail_at, [], None

    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict] | None:
        if model.name not in S3_WRITES:
            return None
        with self._lock:
            index = len(self.calls)
            call = (model.name, str(params.get("url_path", "")))
            self.calls.append(call)
            if index != self.fail_at:
                return None
            self.failed = call
        error = {
            "Error": {"Code": self.code, "Message": "We encountered an internal error. Please try again."},
            "ResponseMetadata": {"HTTPStatusCode": self.status},
        }
        return AWSResponse(None, self.status, {}, None), error


@pytest.fixture
def s3_write_faults() -> S3WriteFaults:
    return S3WriteFaults()


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> Callable[[ModuleType], int]:
    """``small_parts(app)``: generate_dataset uploads in 4 KiB parts, so a few rows go through multipart.

    moto enforces S3's 5 MiB minimum for every part but the last, as S3 does; it is lowered here only.
    """

    def apply(app: ModuleType) -> int:
        monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1)
        monkeypatch.setattr(s3_stream, "PART_SIZE", SMALL_PART)
        return SMALL_PART

    return apply
