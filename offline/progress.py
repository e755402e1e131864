"""The progress lines of ``python -m offline`` on stderr: states entered and left, jobs as they end."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from report.causes import readable_cause

JOB_STATUS_WORDS = {
    "Completed": "completed",
    "InProgress": "still running",
    "RetryableError": "failed and retried",
    "NonRetryableError": "failed",
    "Stopped": "stopped early by the tuning job",
}


class Progress:
    """Writes what happens to stderr, from two threads: the history poller and the SageMaker emulator."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            print(f"[{time.monotonic() - self.started:6.1f}s] {text}", file=self.stream, flush=True)

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            self.line(f"-> {event['stateEnteredEventDetails']['name']}")
        elif kind.endswith("StateExited"):
            self.line(f"<- {event['stateExitedEventDetails']['name']}")
        elif kind == "TaskFailed":
            details = event.get("taskFailedEventDetails") or {}
            cause = shorten(readable_cause(details.get("cause")), 300)
            self.line(f"   task failed: {details.get('error')}: {cause}")
        elif kind == "ExecutionFailed":
            details = event.get("executionFailedEventDetails") or {}
            self.line(f"execution failed: {details.get('error')}")
        elif kind == "ExecutionSucceeded":
            self.line("execution succeeded")

    def on_sagemaker(self, event: str, data: dict[str, Any]) -> None:
        if event == "training_job_completed":
            objective = data.get("objective") or {}
            value = objective.get("value")
            shown = (
                f"{objective.get('name')}={value:.5f}" if isinstance(value, (int, float)) else "no objective"
            )
            status = data.get("status")
            if status == "Stopped":
                status = "Stopped (early by the tuning job: not promising against the jobs before it)"
            reason = f" ({shorten(data['failureReason'], 200)})" if data.get("failureReason") else ""
            best = data.get("bestSoFar") or {}
            best_text = ""
            if best.get("objective") is not None:
                best_text = f" | best so far {best['objective']:.5f} ({best['name'][-12:]})"
            self.line(
                f"   training job {data.get('name')} {status}{reason}: {shown}, "
                f"{data.get('rounds')} rounds, {data.get('seconds')} s{best_text}"
            )
            self.line(f"      {hyperparameters_text(data.get('hyperparameters') or {})}")
        elif event == "tuning_job_completed":
            counters = data.get("trainingJobStatusCounters") or {}
            reason = f" ({shorten(data['failureReason'], 300)})" if data.get("failureReason") else ""
            self.line(
                f"   tuning job {data.get('name')} {data.get('status')}{reason}: {job_counts(counters)}"
            )
        elif event == "model_created":
            self.line(f"   model {data.get('name')} created from {data.get('modelDataUrl')}")
        elif event == "transform_job_completed":
            self.line(
                f"   transform job {data.get('name')} {data.get('status')}: {data.get('records')} records "
                f"in {data.get('seconds')} s"
            )


def job_counts(counters: dict[str, Any]) -> str:
    """TrainingJobStatusCounters in words: '16 training jobs: 12 completed, 4 stopped early by ...'."""
    total = sum(n for n in counters.values() if isinstance(n, int))
    parts = [f"{n} {JOB_STATUS_WORDS.get(status, status)}" for status, n in counters.items() if n]
    return f"{total} training job{'s' if total != 1 else ''}" + (": " + ", ".join(parts) if parts else "")


def shorten(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def hyperparameters_text(values: dict[str, Any]) -> str:
    def fmt(value: Any) -> str:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return str(value)
        return f"{number:.4g}"

    return " ".join(f"{k}={fmt(v)}" for k, v in sorted(values.items()))


@contextlib.contextmanager
def log_warnings_to_stderr(enabled: bool) -> Iterator[None]:
    """Warnings of the handlers and the emulator on stderr (nothing with --quiet), for this run only.

    The handlers set the root logger to INFO: their INFO records are CloudWatch material, not progress.
    The engine logs every task failure at ERROR with the whole state's repr; the progress lines (and the
    result's cause) already say what failed, so its logger is muted.
    """
    root = logging.getLogger()
    handler: logging.Handler = logging.StreamHandler(sys.stderr) if enabled else logging.NullHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("   log %(levelname)s %(name)s: %(message)s"))
    engine_logger = logging.getLogger("moto.stepfunctions.parser")
    engine_level = engine_logger.level
    root.addHandler(handler)
    engine_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        root.removeHandler(handler)
        engine_logger.setLevel(engine_level)
