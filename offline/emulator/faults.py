"""Faults a test injects: API errors on the next calls, failing training jobs and transform jobs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ClientError

from offline.request_validation import client_error

# predicate(training job name, hyperparameters) -> failure reason, or None to let the job run.
TrainingFailurePredicate = Callable[[str, dict[str, str]], str | None]

DEFAULT_FAULT_MESSAGES = {
    "ThrottlingException": "Rate exceeded",
    "ResourceLimitExceeded": "The account-level service limit for this resource is exceeded (injected fault)",
    "InternalFailure": "We encountered an internal error. Please try again.",
    "ServiceUnavailable": "Service is unavailable. Please try again later.",
}
_SERVER_FAULTS = frozenset({"InternalFailure", "ServiceUnavailable", "InternalServerError"})


@dataclass
class _Fault:
    code: str
    message: str
    remaining: int


class Faults:
    """The faults queued per API operation, and the predicates that fail jobs."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._queues: dict[str, list[_Fault]] = {}
        self.training_failure: TrainingFailurePredicate | None = None
        # Transform job name (None: every transform job) -> failure reason.
        self.transform_failures: dict[str | None, str] = {}

    def add(self, operation: str, code: str, message: str | None, times: int) -> None:
        """The next ``times`` calls of ``operation`` (an API operation name) raise ``code``."""
        if times < 1:
            raise ValueError("times must be at least 1")
        text = message or DEFAULT_FAULT_MESSAGES.get(code, f"{code} (injected fault)")
        with self._lock:
            self._queues.setdefault(operation, []).append(_Fault(code, text, times))

    def next_error(self, operation: str) -> ClientError | None:
        """The error the next queued fault of ``operation`` raises (counted as used), or None."""
        with self._lock:
            queue = self._queues.get(operation)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.pop(0)
        status = 500 if fault.code in _SERVER_FAULTS else 400
        return client_error(operation, fault.code, fault.message, status)

    def fail_transform_job(self, reason: str, name: str | None) -> None:
        with self._lock:
            self.transform_failures[name] = reason

    def transform_failure(self, name: str) -> str | None:
        with self._lock:
            return self.transform_failures.get(name, self.transform_failures.get(None))
