"""The workflow, end to end on moto's Step Functions engine: failed jobs, retries of transient errors, and
mistakes in the definition or a handler that fail the run with a message pointing at them.

Each test runs the real ``statemachine/tuning.asl.json`` with the template's substitutions, the real
handlers and the SageMaker emulator, and checks the execution history (states entered, attempts, task
failures) and the final output or error, not only the status.
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Callable
from typing import Any

import pytest
from moto.stepfunctions.parser.asl.component.common.retry import jitter_strategy_decl

from offline.engine import Engine
from tests.offline.conftest import SMALL_INPUT
from tests.offline.workflow_support import (
    HAPPY_PATH,
    OVER_LIMIT,
    THROTTLED,
    TUNING,
    path_to,
)


@pytest.fixture
def no_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full jitter draws each retry interval from [0, backoff]; this makes it draw the top, the backoff."""
    monkeypatch.setattr(jitter_strategy_decl, "random", types.SimpleNamespace(uniform=lambda low, high: high))


def test_every_training_job_failing_fails_the_tuning_state_with_sagemakers_reasons(engine: Engine) -> None:
    engine.sagemaker.fail_training_jobs_when(lambda name, hyperparameters: "AlgorithmError: out of memory")

    result = engine.run(SMALL_INPUT)

    assert result.status == "FAILED"
    assert result.states_entered() == [
        *path_to(TUNING),
        "Read Training Job Failure",
        "Training Job Failure Found?",
        "First Failed Training Job",
        "Describe Tuning Failure",
        "Tuning Failed",
    ]
    assert result.error == "States.TaskFailed"
    # The first failed training job's reason, then the DescribeHyperParameterTuningJob response.
    training, _, description_text = result.cause.partition(" | The tuning job, as SageMaker describes it: ")
    description = json.loads(description_text)
    assert training.startswith(f"Training job {description['HyperParameterTuningJobName']}-001-")
    assert training.endswith(" failed: AlgorithmError: out of memory")
    assert description["HyperParameterTuningJobStatus"] == "Failed"
    assert "No training job succeeded" in description["FailureReason"]
    assert description["TrainingJobStatusCounters"]["NonRetryableError"] == 3
    assert "BestTrainingJob" not in description
    # A failed job is caught, never retried: a second create would collide on the job name.
    assert result.attempts(TUNING) == 1
    assert [f["error"] for f in result.task_failures(TUNING)] == ["States.TaskFailed"]


@pytest.mark.parametrize(
    ("function", "state", "code"),
    [
        ("GenerateDatasetFunction", "Generate Training Dataset", "ServiceException"),
        ("ExtractModelNameFunction", "Extract Model Name", "TooManyRequestsException"),
    ],
)
def test_transient_lambda_service_error_is_retried_with_backoff_then_succeeds(
    engine: Engine, no_jitter: None, function: str, state: str, code: str
) -> None:
    engine.inject_lambda_fault(function, code, times=2)

    result = engine.run(SMALL_INPUT)

    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == HAPPY_PATH
    assert result.attempts(state) == 3
    failures = result.task_failures(state)
    assert [f["error"] for f in failures] == [f"Lambda.{code}"] * 2
    assert all("(Service: AWSLambda; Status Code: " in f["cause"] for f in failures)
    # IntervalSeconds 2, BackoffRate 2.0 (the engine's sleeps are scaled down, the intervals are not).
    assert engine.retry_sleeps == [2.0, 4.0]
    assert result.output["model"]["modelName"] == result.output["tuning"]["bestTrainingJobName"]


@pytest.mark.parametrize(
    ("operation", "state", "code", "error", "sleeps"),
    [
        ("CreateHyperParameterTuningJob", TUNING, "ThrottlingException", THROTTLED, [5, 10]),
        ("CreateModel", "HyperparameterTuning - Save Model", "ThrottlingException", THROTTLED, [5, 10]),
        ("CreateTransformJob", "Batch transform", "ResourceLimitExceeded", OVER_LIMIT, [60, 120]),
    ],
)
def test_sagemaker_create_throttled_or_over_limit_is_retried_with_backoff_then_succeeds(
    engine: Engine, no_jitter: None, operation: str, state: str, code: str, error: str, sleeps: list[float]
) -> None:
    engine.sagemaker.inject_fault(operation, code, times=2)

    result = engine.run(SMALL_INPUT)

    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == HAPPY_PATH
    assert result.attempts(state) == 3
    failures = result.task_failures(state)
    assert [f["error"] for f in failures] == [error, error]
    assert all(
        f"Error Code: {code};" in f["cause"] and "Service: AmazonSageMaker" in f["cause"] for f in failures
    )
    assert engine.retry_sleeps == sleeps
    assert result.output["transform"]["status"] == "Completed"


def test_failed_transform_job_is_caught_into_batch_transform_failed_with_the_reason(engine: Engine) -> None:
    engine.sagemaker.fail_transform_job("ClientError: the model could not read the input")

    result = engine.run(SMALL_INPUT)

    assert result.status == "FAILED"
    assert result.states_entered() == [*path_to("Batch transform"), "Batch Transform Failed"]
    assert result.error == "States.TaskFailed"
    description = json.loads(result.cause)  # the DescribeTransformJob response
    assert description["TransformJobStatus"] == "Failed"
    assert "the model could not read the input" in description["FailureReason"]
    assert result.attempts("Batch transform") == 1
    # The Fail state got the run's state with the caught error beside it.
    fail_input = json.loads(result.events("FailStateEntered")[0]["stateEnteredEventDetails"]["input"])
    assert fail_input["error"]["Error"] == "States.TaskFailed"
    assert fail_input["dataset"]["transformJobName"] == description["TransformJobName"]


# --- A mistake in the definition or a handler fails the offline run with a message that points at it ---


def test_misspelled_jsonpath_fails_the_run_naming_the_path_and_the_state(
    make_engine: Callable[..., Engine],
    broken_definition: Callable[..., Any],
    sagemaker_events: list[tuple[str, dict[str, Any]]],
) -> None:
    engine = make_engine(
        definition_path=broken_definition('"$.dataset.trainUri"', '"$.dataset.trainUrl"', times=2)
    )

    result = engine.run(SMALL_INPUT)

    assert result.status == "FAILED"
    # States.Runtime is not caught by States.ALL (as on AWS): the execution fails in the state itself.
    assert result.states_entered() == path_to(TUNING)
    assert result.error == "States.Runtime"
    assert f"executing the state '{TUNING}'" in result.cause
    assert "The JSONPath '$.dataset.trainUrl' could not be found" in result.cause
    assert sagemaker_events == [], "no tuning job may start"


def test_tuning_job_name_over_32_characters_fails_with_sagemakers_validation_message(
    make_engine: Callable[..., Engine], broken_definition: Callable[..., Any]
) -> None:
    path = broken_definition(
        '"HyperParameterTuningJobName.$": "$.dataset.tuningJobName"',
        '"HyperParameterTuningJobName.$": "States.Format(\'{}-tuning\', $.dataset.tuningJobName)"',
        # The cold and the warm-started tuning state, and Read Training Job Failure (never reached: the
        # refused create is an API error).
        times=3,
    )
    engine = make_engine(definition_path=path)

    result = engine.run(SMALL_INPUT)

    assert result.status == "FAILED"
    assert result.states_entered() == [*path_to(TUNING), "Tuning Failed"]
    assert result.error == "SageMaker.AmazonSageMakerException"
    assert re.search(
        r"Value '[0-9a-z-]+-tuning' at 'hyperParameterTuningJobName' failed to satisfy constraint: "
        r"Member must have length less than or equal to 32",
        result.cause,
    ), result.cause
    assert "Error Code: ValidationException" in result.cause
    # SageMaker names a ValidationException like a throttle (AmazonSageMakerException): the definition's
    # Retry tries it 4 more times before the Catch.
    assert result.attempts(TUNING) == 5


def test_handler_output_missing_a_key_fails_the_run_naming_the_key_and_the_state(
    make_engine: Callable[..., Engine], broken_function: Callable[[str, str, str], Any]
) -> None:
    code = broken_function(
        "extract_model_name",
        'return {"modelName": name, "modelArn": arn}',
        'return {"name": name, "modelArn": arn}',
    )
    engine = make_engine(function_code={"ExtractModelNameFunction": code})

    result = engine.run(SMALL_INPUT)

    assert result.status == "FAILED"
    assert result.states_entered() == path_to("Extract Model Name")
    assert result.error == "States.Runtime"
    assert "executing the state 'Extract Model Name'" in result.cause
    assert "The JSONPath '$.Payload.modelName' could not be found" in result.cause
