"""warmStart's parents checked by the first state as SageMaker checks them, "previous" found, and the
WarmStartConfig it builds; every SageMaker call goes through botocore's Stubber, which checks its shape."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import warm_start
from botocore.stub import Stubber
from execution_input import InvalidExecutionInput, validate_execution_input
from warm_start import WarmStartParentInvalid, warm_start_config

STACK = "0a1b2c3d"
OBJECTIVE = {"Type": "Minimize", "MetricName": "validation:rmse"}
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
ARN_PREFIX = "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/"


@pytest.fixture
def sagemaker() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def description(
    name: str, status: str = "Completed", metric: str = "validation:rmse", jobs: int = 20
) -> dict:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobArn": ARN_PREFIX + name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": metric},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs, "MaxParallelTrainingJobs": 4},
        },
        "HyperParameterTuningJobStatus": status,
        "CreationTime": NOW,
        "TrainingJobStatusCounters": {
            "Completed": jobs - 2,
            "InProgress": 0,
            "RetryableError": 0,
            "NonRetryableError": 0,
            "Stopped": 2,
        },
        "ObjectiveStatusCounters": {"Succeeded": jobs, "Pending": 0, "Failed": 0},
    }


def expect_describe(stubber: Stubber, name: str, **kwargs: Any) -> None:
    stubber.add_response(
        "describe_hyper_parameter_tuning_job",
        description(name, **kwargs),
        {"HyperParameterTuningJobName": name},
    )


def summary(name: str) -> dict[str, Any]:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobArn": ARN_PREFIX + name,
        "HyperParameterTuningJobStatus": "Completed",
        "Strategy": "Bayesian",
        "CreationTime": NOW,
        "TrainingJobStatusCounters": {},
        "ObjectiveStatusCounters": {},
    }


LIST_REQUEST = {
    "NameContains": STACK,
    "StatusEquals": "Completed",
    "SortBy": "CreationTime",
    "SortOrder": "Descending",
    "MaxResults": 100,
}


def test_named_parents_become_the_warm_start_config_with_transfer_learning_by_default(sagemaker) -> None:
    client, stubber = sagemaker
    names = [f"{STACK}-run-a-1", f"{STACK}-run-b-2"]
    for name in names:
        expect_describe(stubber, name)

    config = warm_start_config(client, {"parents": names}, STACK, OBJECTIVE, 20)

    assert config == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": n} for n in names],
        "WarmStartType": "TransferLearning",
    }


def test_the_type_given_is_sent(sagemaker) -> None:
    client, stubber = sagemaker
    expect_describe(stubber, f"{STACK}-run-a-1", status="Stopped")

    config = warm_start_config(
        client, {"parents": [f"{STACK}-run-a-1"], "type": "IdenticalDataAndAlgorithm"}, STACK, OBJECTIVE, 5
    )

    assert config["WarmStartType"] == "IdenticalDataAndAlgorithm"


def test_previous_is_the_latest_completed_tuning_job_whose_name_starts_with_the_token(sagemaker) -> None:
    client, stubber = sagemaker
    # NameContains also matches a job that holds the token elsewhere in its name: it is skipped.
    stubber.add_response(
        "list_hyper_parameter_tuning_jobs",
        {"HyperParameterTuningJobSummaries": [summary(f"other-{STACK}-x")], "NextToken": "page2"},
        LIST_REQUEST,
    )
    stubber.add_response(
        "list_hyper_parameter_tuning_jobs",
        {"HyperParameterTuningJobSummaries": [summary(f"{STACK}-newest-1"), summary(f"{STACK}-older-2")]},
        {**LIST_REQUEST, "NextToken": "page2"},
    )
    expect_describe(stubber, f"{STACK}-newest-1")

    config = warm_start_config(client, {"parents": ["previous"]}, STACK, OBJECTIVE, 20)

    assert config["ParentHyperParameterTuningJobs"] == [{"HyperParameterTuningJobName": f"{STACK}-newest-1"}]


def test_previous_without_an_earlier_run_is_refused_saying_to_run_once_first(sagemaker) -> None:
    client, stubber = sagemaker
    stubber.add_response(
        "list_hyper_parameter_tuning_jobs", {"HyperParameterTuningJobSummaries": []}, LIST_REQUEST
    )

    with pytest.raises(
        WarmStartParentInvalid, match=r"no Completed tuning job yet .* run once without warmStart"
    ):
        warm_start_config(client, {"parents": ["previous"]}, STACK, OBJECTIVE, 20)


def test_previous_and_the_same_job_by_name_are_one_parent_named_twice(sagemaker) -> None:
    client, stubber = sagemaker
    stubber.add_response(
        "list_hyper_parameter_tuning_jobs",
        {"HyperParameterTuningJobSummaries": [summary(f"{STACK}-newest-1")]},
        LIST_REQUEST,
    )

    with pytest.raises(
        WarmStartParentInvalid, match=f'{STACK}-NEWEST-1 twice \\("previous" is {STACK}-newest-1'
    ):
        warm_start_config(client, {"parents": ["previous", f"{STACK}-NEWEST-1"]}, STACK, OBJECTIVE, 20)


def test_a_parent_of_another_stack_is_refused_before_any_call(sagemaker) -> None:
    client, _ = sagemaker

    with pytest.raises(WarmStartParentInvalid, match="someone-elses-job is not a tuning job of this stack"):
        warm_start_config(client, {"parents": ["someone-elses-job"]}, STACK, OBJECTIVE, 20)


def test_unknown_unfinished_and_other_metric_parents_are_all_named_in_one_message(sagemaker) -> None:
    client, stubber = sagemaker
    unknown, running, other = f"{STACK}-gone-1", f"{STACK}-running-2", f"{STACK}-auc-3"
    stubber.add_client_error(
        "describe_hyper_parameter_tuning_job",
        service_error_code="ResourceNotFound",
        service_message=f"Amazon SageMaker can't find a tuning job with name {unknown}",
        expected_params={"HyperParameterTuningJobName": unknown},
    )
    expect_describe(stubber, running, status="InProgress")
    expect_describe(stubber, other, metric="validation:mae")

    with pytest.raises(WarmStartParentInvalid) as raised:
        warm_start_config(client, {"parents": [unknown, running, other]}, STACK, OBJECTIVE, 20)

    message = str(raised.value)
    assert f"{unknown} does not exist" in message
    assert f"{running} is InProgress, not finished (Completed, Stopped or Failed)" in message
    assert f"{other} tuned the objective metric validation:mae, this run tunes validation:rmse" in message


def test_failed_parents_are_finished_and_accepted(sagemaker) -> None:
    client, stubber = sagemaker
    expect_describe(stubber, f"{STACK}-failed-1", status="Failed")

    config = warm_start_config(client, {"parents": [f"{STACK}-failed-1"]}, STACK, OBJECTIVE, 20)

    assert config["ParentHyperParameterTuningJobs"] == [{"HyperParameterTuningJobName": f"{STACK}-failed-1"}]


def test_parents_and_the_new_jobs_may_not_exceed_500_training_jobs(sagemaker) -> None:
    client, stubber = sagemaker
    names = [f"{STACK}-big-{i}" for i in range(5)]
    for name in names:
        expect_describe(stubber, name, jobs=90)

    with pytest.raises(WarmStartParentInvalid, match="ran 450 training jobs and this run may start 60"):
        warm_start_config(client, {"parents": names}, STACK, OBJECTIVE, 60)


def test_access_denied_is_not_mistaken_for_an_unknown_parent(sagemaker) -> None:
    client, stubber = sagemaker
    stubber.add_client_error(
        "describe_hyper_parameter_tuning_job", service_error_code="AccessDeniedException"
    )

    with pytest.raises(Exception) as raised:
        warm_start_config(client, {"parents": [f"{STACK}-x-1"]}, STACK, OBJECTIVE, 20)

    assert not isinstance(raised.value, WarmStartParentInvalid)


@pytest.mark.parametrize(
    ("warm", "message"),
    [
        ({"parents": []}, "warmStart.parents must list at least 1, got none"),
        ({"parents": [f"{STACK}-{i}" for i in range(6)]}, "warmStart.parents must list at most 5"),
        ({"parents": ["a", "a"]}, "warmStart.parents must not name a job twice"),
        ({"parents": ["bad_name"]}, "warmStart.parents[0] must be a tuning job name"),
        ({"parents": ["x" * 33]}, "warmStart.parents[0] must be at most 32 characters long, got 33"),
        ({"parents": ["a"], "type": "Identical"}, "warmStart.type must be one of TransferLearning"),
        ({}, "warmStart.parents is missing"),
    ],
)
def test_the_schema_refuses_a_malformed_warm_start_naming_the_key(warm: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidExecutionInput) as raised:
        validate_execution_input({"warmStart": warm})

    assert str(raised.value).startswith(message)


def test_the_limits_are_sagemakers() -> None:
    assert warm_start.FINISHED == ("Completed", "Stopped", "Failed")
    assert warm_start.MAX_TRAINING_JOBS == 500
