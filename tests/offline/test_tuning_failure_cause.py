"""When every training job fails, the run's Fail cause carries the first failed job's reason (the
container's message: the file, line and fault of bad data; the hyperparameter it refuses) before the tuning
job's own description; when that reason cannot be read, the run still ends in Tuning Failed with the
tuning job's cause.

The real definition, handlers and emulator on moto's engine, as in test_workflow_failures.py.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from typing import Any

import pytest

from offline.engine import Engine
from tests.offline.conftest import SMALL_INPUT
from tests.offline.test_own_data_workflow import EXTERNAL, PARAMETERS, csv_rows, good_files, upload
from tests.offline.workflow_support import TUNING, path_to

READ = "Read Training Job Failure"
WITH_REASON = [*path_to(TUNING), READ, "Training Job Failure Found?", "First Failed Training Job"]
WITH_REASON += ["Describe Tuning Failure", "Tuning Failed"]
SEPARATOR = " | The tuning job, as SageMaker describes it: "


def split_cause(cause: str) -> tuple[str, dict[str, Any]]:
    """The training job's part of the cause, and the tuning job's description that follows it."""
    training, separator, description = cause.partition(SEPARATOR)
    assert separator, cause
    return training, json.loads(description)


def test_a_nan_label_past_the_first_states_check_fails_naming_the_file_line_and_fault(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(parameters=PARAMETERS)
    engine.s3.create_bucket(Bucket=EXTERNAL)
    # The first state checks the first FULL_CHECK_BYTES of each file (1 GiB on AWS), in chunks; this
    # file's fault lies past a check shrunk to 4 KiB, where only the training job finds it.
    monkeypatch.setattr(sys.modules["own_data_csv"], "FULL_CHECK_BYTES", 4096)
    monkeypatch.setattr(sys.modules["own_data"], "CHUNK_BYTES", 1024)
    rows = csv_rows(400, random.Random(5)).splitlines()
    line = 301
    rows[line - 1] = "nan," + rows[line - 1].split(",", 1)[1]
    data = upload(engine, {**good_files(), "trainUri": "\n".join(rows) + "\n"})
    assert len("\n".join(rows[: line - 1]).encode()) > 4096

    result = engine.run({"data": data}, name="nan-label")

    assert (result.status, result.error) == ("FAILED", "States.TaskFailed")
    assert result.states_entered() == WITH_REASON
    training, description = split_cause(result.cause)
    assert training.startswith(f"Training job {description['HyperParameterTuningJobName']}-001-")
    # The emulator's message for the container's failure: XGBoost's refusal, with the file and line.
    assert "Label contains NaN, infinity or a value too large" in training
    assert f"{data['trainUri']} line {line}: label 'nan' is not a finite number" in training
    assert description["HyperParameterTuningJobStatus"] == "Failed"
    assert description["FailureReason"].startswith("No training job succeeded")


def test_a_static_hyperparameter_the_container_refuses_fails_with_the_containers_message(
    make_engine: Callable[..., Engine], broken_definition: Callable[..., Any]
) -> None:
    # In both tuning states, the cold and the warm-started one.
    engine = make_engine(
        definition_path=broken_definition('"tree_method": "hist"', '"tree_method": "fast"', times=2)
    )

    result = engine.run(SMALL_INPUT)

    assert (result.status, result.error) == ("FAILED", "States.TaskFailed")
    assert result.states_entered() == WITH_REASON
    training, description = split_cause(result.cause)
    assert "ClientError" in training and "tree_method" in training and "fast" in training, training
    assert description["TrainingJobStatusCounters"]["NonRetryableError"] == 3


def test_a_throttled_read_of_the_reason_is_retried(engine: Engine) -> None:
    engine.sagemaker.fail_training_jobs_when(lambda name, hyperparameters: "AlgorithmError: out of memory")
    engine.sagemaker.inject_fault("ListTrainingJobsForHyperParameterTuningJob", "ThrottlingException")

    result = engine.run(SMALL_INPUT)

    assert result.states_entered() == WITH_REASON
    # The AWS SDK integration names SageMaker's unmodelled errors after the Java 2.x SDK's base class.
    assert [f["error"] for f in result.task_failures(READ)] == ["SageMaker.SageMakerException"]
    assert result.attempts(READ) == 2
    assert split_cause(result.cause)[0].endswith("failed: AlgorithmError: out of memory")


@pytest.mark.parametrize(
    ("code", "error", "attempts"),
    [
        # Retried (3 retries), then caught.
        ("ThrottlingException", "SageMaker.SageMakerException", 4),
        # A modelled error keeps its name, and is not retried.
        ("ResourceNotFound", "SageMaker.ResourceNotFoundException", 1),
    ],
)
def test_when_the_reason_cannot_be_read_the_run_still_fails_in_tuning_failed_with_the_tuning_cause(
    engine: Engine, code: str, error: str, attempts: int
) -> None:
    engine.sagemaker.fail_training_jobs_when(lambda name, hyperparameters: "AlgorithmError: out of memory")
    engine.sagemaker.inject_fault("ListTrainingJobsForHyperParameterTuningJob", code, times=attempts)

    result = engine.run(SMALL_INPUT)

    assert result.states_entered() == [*path_to(TUNING), READ, "Tuning Failed"]
    assert [f["error"] for f in result.task_failures(READ)] == [error] * attempts
    assert result.error == "States.TaskFailed"
    description = json.loads(result.cause)  # the tuning state's own cause, untouched
    assert description["HyperParameterTuningJobStatus"] == "Failed"
    assert description["FailureReason"].startswith("No training job succeeded")


def test_a_creation_error_goes_to_tuning_failed_without_reading_training_jobs(engine: Engine) -> None:
    # Named like a throttle (AmazonSageMakerException), so retried: every attempt fails.
    engine.sagemaker.inject_fault("CreateHyperParameterTuningJob", "ValidationException", "bad", times=5)

    result = engine.run(SMALL_INPUT)

    assert result.states_entered() == [*path_to(TUNING), "Tuning Failed"]
    assert (result.error, result.cause.split(" (")[0]) == ("SageMaker.AmazonSageMakerException", "bad")
    assert result.attempts(TUNING) == 5
    assert not [r for r in engine.sagemaker_requests if r.state == READ]
