"""Faults: S3 failing in the middle of a dataset upload, SageMaker throttling and limits, failing jobs.

- S3: every write of a dataset upload (PutObject, CreateMultipartUpload, UploadPart,
  CompleteMultipartUpload), in turn, fails through the real handler's real boto3 client against moto:
  each time the handler raises DatasetWriteError and leaves no object and no open multipart upload. The
  same through the state machine ends in "Dataset Generation Failed".
- SageMaker: each Create* task, throttled or over a limit as many times as its Retry allows (and once
  more), is retried exactly as the definition's Retry says: attempts, intervals with backoff, the
  MaxDelaySeconds cap and full jitter, all read from the ASL file; past the last attempt the Catch takes
  the run to its Fail state and nothing downstream starts.
- Training jobs failing among several: the tuning job still completes with the others.

``tests/offline/test_workflow_failures.py`` covers two faults then success with fixed intervals, and every
training job failing; these tests cover the rest.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable
from types import ModuleType
from typing import Any

import dataset_writer
import pytest
from moto.stepfunctions.parser.asl.component.common.retry import jitter_strategy_decl

from offline.engine import Engine, sagemaker_error_name
from tests.conftest import LambdaContext, load_event
from tests.hardening.conftest import S3_WRITES, S3WriteFaults

# Train and validation go up in several 4 KiB parts, the test features in parts too, the labels in one put.
MULTIPART_INPUT = {"trainRows": 300, "validationRows": 100, "testRows": 100, "seed": 5}
SMALL_INPUT = {"trainRows": 200, "validationRows": 50, "testRows": 50}
TUNING = "HyperparameterTuning (XGBoost)"
SAVE_MODEL = "HyperparameterTuning - Save Model"
TRANSFORM = "Batch transform"


def all_keys(s3_client: Any, bucket: str, prefix: str = "") -> list[str]:
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def open_uploads(s3_client: Any, bucket: str) -> list[str]:
    return [u["Key"] for u in s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


# --- S3 failing in the middle of a dataset upload ---------------------------------------------------------


@pytest.mark.parametrize(("code", "status"), [("InternalError", 500), ("AccessDenied", 403)])
def test_s3_write_failing_at_any_point_of_the_upload_leaves_no_object_and_no_open_upload(
    load_handler: Callable[[str], ModuleType],
    s3_client: Any,
    bucket: str,
    small_parts: Callable[[ModuleType], int],
    s3_write_faults: S3WriteFaults,
    code: str,
    status: int,
) -> None:
    """The bucket is versioned as the template makes it; each write of a run fails in turn."""
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    app = load_handler("generate_dataset")
    small_parts(app)
    s3_write_faults.install(app._s3_client())
    s3_write_faults.code, s3_write_faults.status = code, status
    event = {**load_event("generate_dataset"), "input": MULTIPART_INPUT}

    # A clean run, to learn the sequence of writes (the data is seeded: every run makes the same ones).
    s3_write_faults.reset()
    dataset = app.lambda_handler(event, LambdaContext())["dataset"]
    writes = list(s3_write_faults.calls)
    assert {name for name, _ in writes} == S3_WRITES
    assert sum(1 for name, _ in writes if name == "UploadPart") >= 6
    assert len(all_keys(s3_client, bucket)) == 4
    for key in all_keys(s3_client, bucket):
        s3_client.delete_object(Bucket=bucket, Key=key)

    for index, (operation, path) in enumerate(writes):
        s3_write_faults.reset(fail_at=index)

        with pytest.raises(dataset_writer.DatasetWriteError) as raised:
            app.lambda_handler(event, LambdaContext())

        where = f"write {index} ({operation} {path})"
        assert s3_write_faults.failed == (operation, path), where
        assert code in str(raised.value), where
        assert all_keys(s3_client, bucket) == [], f"{where} left objects"
        assert open_uploads(s3_client, bucket) == [], f"{where} left a multipart upload open"
        # What was already complete is deleted, never aborted half-way: the writes after the failure
        # are only the clean-up's (no new object is started).
        assert s3_write_faults.calls[: index + 1] == writes[: index + 1], where
        assert all(name != "CreateMultipartUpload" for name, _ in s3_write_faults.calls[index + 1 :]), where
    assert dataset["runName"]


def test_s3_failing_mid_upload_in_the_state_machine_ends_in_dataset_generation_failed_leaving_nothing(
    make_engine: Callable[..., Engine],
    small_parts: Callable[[ModuleType], int],
    s3_write_faults: S3WriteFaults,
    sagemaker_events: list[tuple[str, dict[str, Any]]],
) -> None:
    engine = make_engine()
    (function,) = [f for f in engine.functions.values() if f.logical_id == "GenerateDatasetFunction"]
    assert function.module is not None
    small_parts(function.module)
    s3_write_faults.install(function.module._s3_client())
    s3_write_faults.reset(fail_at=4)  # an UploadPart of the train split, parts already uploaded

    result = engine.run(MULTIPART_INPUT)

    assert s3_write_faults.failed is not None and s3_write_faults.failed[0] == "UploadPart"
    assert result.status == "FAILED"
    assert result.states_entered() == ["Generate Training Dataset", "Dataset Generation Failed"]
    assert result.error == "DatasetWriteError"
    assert "InternalError" in json.loads(result.cause)["errorMessage"]
    # A handler error is no Lambda service error: no retry, and nothing ran after it.
    assert result.attempts("Generate Training Dataset") == 1
    assert sagemaker_events == []
    assert engine.list_s3(f"s3://{engine.bucket}/") == []
    assert open_uploads(engine.s3, engine.bucket) == []


# --- SageMaker throttling and limits on the Create* tasks -------------------------------------------------


def retrier_for(definition: dict[str, Any], state: str, error: str) -> dict[str, Any]:
    """The first Retry entry of ``state`` that matches ``error`` (as Step Functions picks it)."""
    for retrier in definition["States"][state].get("Retry", []):
        if error in retrier["ErrorEquals"] or "States.ALL" in retrier["ErrorEquals"]:
            return retrier
    raise AssertionError(f"{state} has no Retry for {error}")


def backoff_intervals(retrier: dict[str, Any]) -> list[float]:
    """The interval before each retry: IntervalSeconds x BackoffRate^n, capped at MaxDelaySeconds."""
    interval, rate = retrier.get("IntervalSeconds", 1), retrier.get("BackoffRate", 2.0)
    cap = retrier.get("MaxDelaySeconds", float("inf"))
    return [min(interval * rate**n, cap) for n in range(retrier.get("MaxAttempts", 3))]


@pytest.fixture
def jitter_draws(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float]]:
    """The (low, high) of every jitter draw; each draw returns ``high``, the un-jittered backoff."""
    draws: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        draws.append((low, high))
        return high

    monkeypatch.setattr(jitter_strategy_decl, "random", types.SimpleNamespace(uniform=uniform))
    return draws


@pytest.mark.parametrize("extra_fault", [0, 1], ids=["last-retry-succeeds", "retries-exhausted"])
@pytest.mark.parametrize("code", ["ThrottlingException", "ResourceLimitExceeded"])
@pytest.mark.parametrize(
    ("operation", "state"),
    [
        ("CreateHyperParameterTuningJob", TUNING),
        ("CreateModel", SAVE_MODEL),
        ("CreateTransformJob", TRANSFORM),
    ],
)
def test_sagemaker_create_is_retried_as_the_definition_says_then_caught(
    make_engine: Callable[..., Engine],
    jitter_draws: list[tuple[float, float]],
    sagemaker_events: list[tuple[str, dict[str, Any]]],
    operation: str,
    state: str,
    code: str,
    extra_fault: int,
) -> None:
    # 1 s of interval is 0.1 ms here: the 600 s cap of the limit retrier still costs nothing.
    engine = make_engine(
        parameters={"MaxTrainingJobs": 1, "MaxParallelTrainingJobs": 1, "MaxTestRmse": "5"},
        retry_sleep_scale=1e-4,
    )
    error = sagemaker_error_name(operation, code)
    retrier = retrier_for(engine.definition, state, error)
    intervals = backoff_intervals(retrier)
    faults = retrier["MaxAttempts"] + extra_fault
    engine.sagemaker.inject_fault(operation, code, times=faults)

    result = engine.run(SMALL_INPUT)

    attempts = retrier["MaxAttempts"] + 1
    assert result.attempts(state) == attempts
    assert [f["error"] for f in result.task_failures(state)] == [error] * min(faults, attempts)
    assert all(f"Error Code: {code};" in f["cause"] for f in result.task_failures(state))
    # Every retry waited its backoff interval, drawn with full jitter from [0, interval].
    assert engine.retry_sleeps == intervals
    assert jitter_draws == [(0, interval) for interval in intervals]
    assert retrier["JitterStrategy"] == "FULL"
    if extra_fault == 0:
        assert result.status == "SUCCEEDED", result.cause
        assert result.output["transform"]["status"] == "Completed"
        return
    # The first catcher that matches the error: an account quota has a Fail state of its own.
    catchers = engine.definition["States"][state]["Catch"]
    catcher = next(c for c in catchers if {error, "States.ALL"} & set(c["ErrorEquals"]))
    assert result.status == "FAILED"
    assert result.states_entered()[-2:] == [state, catcher["Next"]]
    assert result.error == error
    assert f"Error Code: {code};" in result.cause
    # Nothing after the failed state started: no job of the next step, no predictions.
    started = {event for event, _ in sagemaker_events}
    assert ("training_job_started" in started) == (state != TUNING)
    requests = [r.operation for r in engine.sagemaker_requests if r.execution_arn == result.execution_arn]
    assert requests[-1] == operation
    assert requests.count(operation) == attempts
    assert not [uri for uri in engine.list_s3(f"s3://{engine.bucket}/runs/") if "/predictions/" in uri]


# --- A failing training job among several -----------------------------------------------------------------


@pytest.mark.parametrize("failing", [{1, 3}, {1, 2}], ids=["every-other-job", "whole-first-batch"])
def test_tuning_finishes_with_the_training_jobs_that_did_not_fail(
    make_engine: Callable[..., Engine],
    sagemaker_events: list[tuple[str, dict[str, Any]]],
    failing: set[int],
) -> None:
    engine = make_engine(parameters={"MaxTrainingJobs": 4, "MaxParallelTrainingJobs": 2, "MaxTestRmse": "5"})
    reason = "AlgorithmError: injected failure of a training job"

    def fail(name: str, hyperparameters: dict[str, str]) -> str | None:
        # Training job names are <tuning job>-<3-digit index>-<8 hex>.
        return reason if int(name.rsplit("-", 2)[1]) in failing else None

    engine.sagemaker.fail_training_jobs_when(fail)

    result = engine.run(SMALL_INPUT)

    assert result.status == "SUCCEEDED", result.cause
    finished = {d["name"]: d for event, d in sagemaker_events if event == "training_job_completed"}
    assert len(finished) == 4
    failed = {name for name, d in finished.items() if d["status"] == "Failed"}
    assert {int(name.rsplit("-", 2)[1]) for name in failed} == failing
    assert all(finished[name]["failureReason"] == reason for name in failed)
    tuning = result.output["tuning"]
    counters = tuning["trainingJobStatusCounters"]
    assert counters["NonRetryableError"] == len(failing)
    assert counters["Completed"] + counters["Stopped"] == 4 - len(failing)
    # The best job is the best of the ones that finished, and the model and predictions come from it.
    others = {name: d for name, d in finished.items() if name not in failed}
    best = min(others, key=lambda name: others[name]["objective"]["value"])
    assert tuning["bestTrainingJobName"] == best
    assert tuning["objectiveValue"] == pytest.approx(others[best]["objective"]["value"])
    assert result.output["model"]["modelName"] == best
    assert result.output["transform"]["status"] == "Completed"
    for name in failed:
        description = engine.sagemaker.describe_training_job(TrainingJobName=name)
        assert description["TrainingJobStatus"] == "Failed"
        assert description["FailureReason"] == reason
        assert "ModelArtifacts" not in description
