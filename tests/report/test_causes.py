"""A failed execution's cause, cut down to what a person needs."""

from __future__ import annotations

import json

import pytest

from report.causes import TRAINING_FAILURE_SEPARATOR, readable_cause


def test_a_lambda_errors_cause_is_its_message_without_the_stack_trace() -> None:
    cause = json.dumps(
        {
            "errorMessage": "trainRows must be >= 100, got 5",
            "errorType": "InvalidExecutionInput",
            "stackTrace": ['  File "/var/task/app.py", line 1, in lambda_handler\n'],
        }
    )

    assert readable_cause(cause) == "trainRows must be >= 100, got 5"


@pytest.mark.parametrize(
    ("key", "status_key", "kind"),
    [
        ("HyperParameterTuningJobName", "HyperParameterTuningJobStatus", "tuning job"),
        ("TrainingJobName", "TrainingJobStatus", "training job"),
        ("TransformJobName", "TransformJobStatus", "transform job"),
    ],
)
def test_a_failed_jobs_cause_is_its_failure_reason(key: str, status_key: str, kind: str) -> None:
    # The .sync integration's cause is the whole description, the reason near its end.
    description = {
        key: "run-1",
        "Padding": "x" * 3000,
        status_key: "Failed",
        "FailureReason": "ClientError: bad",
    }

    assert readable_cause(json.dumps(description)) == f"{kind} run-1 Failed: ClientError: bad"


@pytest.mark.parametrize(
    "cause", ["test RMSE 1.63 is above the threshold 1.52", '{"other": 1}', "[1, 2]", ""]
)
def test_any_other_cause_is_kept(cause: str) -> None:
    assert readable_cause(cause) == cause


def test_no_cause_is_empty() -> None:
    assert readable_cause(None) == ""


def test_a_tuning_failure_led_by_a_training_jobs_reason_keeps_both(state_machine_definition: dict) -> None:
    describe = state_machine_definition["States"]["Describe Tuning Failure"]["Parameters"]["Cause.$"]
    assert TRAINING_FAILURE_SEPARATOR in describe  # the separator the definition writes
    tuning = json.dumps(
        {
            "HyperParameterTuningJobName": "t-1",
            "HyperParameterTuningJobStatus": "Failed",
            "FailureReason": "No",
        }
    )
    training = "Training job t-1-001-ab failed: AlgorithmError: line 301: label 'nan'"
    cause = f"{training}{TRAINING_FAILURE_SEPARATOR}{tuning}"

    assert readable_cause(cause) == (
        "Training job t-1-001-ab failed: AlgorithmError: line 301: label 'nan' | tuning job t-1 Failed: No"
    )
