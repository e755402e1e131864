"""Extract Model Path writes the tuning job's training job history to S3 for the report."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import best_job
import pytest
import tuning_history
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tests.conftest import BUCKET_NAME, create_best_training_job

RUN_PREFIX = "runs/51af3dc0-3f6c1b2e-9-d843421974ee/"
HISTORY_KEY = f"{RUN_PREFIX}tuning/training-jobs.json"
T0 = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def app(load_handler: Callable[[str], ModuleType]) -> ModuleType:
    return load_handler("extract_model_path")


@pytest.fixture
def description(load_event: Callable[[str], Any]) -> dict[str, Any]:
    return load_event("extract_model_path")["tuning"]


def summary(
    description: dict[str, Any],
    index: int,
    status: str = "Completed",
    value: float | None = 1.2,
    **extra: Any,
) -> dict[str, Any]:
    tuning_job = description["HyperParameterTuningJobName"]
    name = f"{tuning_job}-{index:03d}-0000000{index}"
    item: dict[str, Any] = {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "TuningJobName": tuning_job,
        "CreationTime": T0 + dt.timedelta(minutes=index),
        "TrainingStartTime": T0 + dt.timedelta(minutes=index, seconds=30),
        "TrainingEndTime": T0 + dt.timedelta(minutes=index + 2),
        "TrainingJobStatus": status,
        "TunedHyperParameters": {"eta": f"0.{index}", "max_depth": str(index)},
        **extra,
    }
    if value is not None:
        item["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "MetricName": "validation:rmse",
            "Value": value,
        }
    return item


def list_request(description: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    request = {
        "HyperParameterTuningJobName": description["HyperParameterTuningJobName"],
        "SortBy": "CreationTime",
        "SortOrder": "Ascending",
        "MaxResults": 100,  # the most one call returns, as many jobs as a tuning job may run
    }
    if token:
        request["NextToken"] = token
    return request


def stub_history(app: ModuleType, pages: list[list[dict[str, Any]]], description: dict[str, Any]) -> Stubber:
    """A SageMaker client that answers ListTrainingJobsForHyperParameterTuningJob with these pages, then
    DescribeTrainingJob from moto (moto does not implement the list operation)."""
    client = app._sagemaker_client()
    stubber = Stubber(client)
    for number, page in enumerate(pages):
        response: dict[str, Any] = {"TrainingJobSummaries": page}
        if number + 1 < len(pages):
            response["NextToken"] = f"page-{number + 1}"
        stubber.add_response(
            "list_training_jobs_for_hyper_parameter_tuning_job",
            response,
            list_request(description, f"page-{number}" if number else None),
        )
    return stubber


def event(description: dict[str, Any], prefix: Any = RUN_PREFIX) -> dict[str, Any]:
    return {"tuning": description, "runPrefix": prefix}


def read_history(s3_client: Any) -> dict[str, Any]:
    return json.loads(s3_client.get_object(Bucket=BUCKET_NAME, Key=HISTORY_KEY)["Body"].read())


def test_history_of_every_page_is_written_in_creation_order_with_failures_and_their_reasons(
    app: ModuleType, bucket: str, s3_client: Any, sagemaker_client: Any, description: dict[str, Any]
) -> None:
    best = create_best_training_job(sagemaker_client, description)
    failed = summary(description, 2, "Failed", None, FailureReason="AlgorithmError: out of memory")
    pages = [[summary(description, 1, value=1.5), failed], [summary(description, 3, value=1.1)]]
    stubber = stub_history(app, pages, description)
    with stubber:
        result = _handle_with_describe_from_moto(app, event(description), sagemaker_client)
    stubber.assert_no_pending_responses()

    history = read_history(s3_client)
    assert result["trainingJobsUri"] == f"s3://{BUCKET_NAME}/{HISTORY_KEY}"
    assert result["bestTrainingJobName"] == best
    assert history["tuningJobName"] == description["HyperParameterTuningJobName"]
    assert history["objectiveMetric"] == "validation:rmse"
    assert history["objectiveType"] == "Minimize"
    assert history["bestTrainingJobName"] == best
    assert [job["name"][-12:] for job in history["trainingJobs"]] == [
        "001-00000001",
        "002-00000002",
        "003-00000003",
    ]
    assert [job["status"] for job in history["trainingJobs"]] == ["Completed", "Failed", "Completed"]
    assert [job["objectiveValue"] for job in history["trainingJobs"]] == [1.5, None, 1.1]
    assert history["trainingJobs"][1]["failureReason"] == "AlgorithmError: out of memory"
    assert history["trainingJobs"][0]["failureReason"] is None
    assert history["trainingJobs"][0]["hyperparameters"] == {"eta": "0.1", "max_depth": "1"}
    assert history["trainingJobs"][0]["creationTime"] == "2026-11-28T10:01:00+00:00"
    assert history["trainingJobs"][0]["endTime"] == "2026-11-28T10:03:00+00:00"


def _handle_with_describe_from_moto(app: ModuleType, evt: dict[str, Any], moto_client: Any) -> dict[str, Any]:
    """Runs the handler with the stubbed client for the list and moto's client for DescribeTrainingJob."""
    stubbed = app._sagemaker_client()

    class Client:
        def get_paginator(self, name: str) -> Any:
            return stubbed.get_paginator(name)

        def describe_training_job(self, **kwargs: Any) -> Any:
            return moto_client.describe_training_job(**kwargs)

    getter = app._sagemaker_client
    app._sagemaker_client = Client
    try:
        return app.lambda_handler(evt, None)
    finally:
        app._sagemaker_client = getter


def test_history_is_written_before_no_best_training_job_is_raised(
    app: ModuleType, bucket: str, s3_client: Any, load_event: Callable[[str], Any]
) -> None:
    """A tuning job in which every training job failed: the history keeps each job's failure reason."""
    failed = load_event("extract_model_path_no_best_job")["tuning"]
    pages = [
        [
            summary(failed, i, "Failed", None, FailureReason=f"ClientError: bad hyperparameter {i}")
            for i in range(1, 4)
        ]
    ]
    stubber = stub_history(app, pages, failed)

    with stubber, pytest.raises(best_job.NoBestTrainingJob):
        app.lambda_handler(event(failed), None)

    history = read_history(s3_client)
    assert history["bestTrainingJobName"] is None
    assert [job["failureReason"] for job in history["trainingJobs"]] == [
        f"ClientError: bad hyperparameter {i}" for i in range(1, 4)
    ]
    stubber.assert_no_pending_responses()


def test_list_error_raises_training_job_list_failed_and_writes_nothing(
    app: ModuleType, bucket: str, s3_client: Any, description: dict[str, Any]
) -> None:
    stubber = Stubber(app._sagemaker_client())
    stubber.add_client_error(
        "list_training_jobs_for_hyper_parameter_tuning_job",
        service_error_code="AccessDeniedException",
        service_message="not authorized",
        expected_params=list_request(description),
    )

    with stubber, pytest.raises(tuning_history.TrainingJobListFailed) as raised:
        app.lambda_handler(event(description), None)

    assert "AccessDeniedException" in str(raised.value)
    assert description["HyperParameterTuningJobName"] in str(raised.value)
    assert isinstance(raised.value.__cause__, ClientError)
    assert s3_client.list_objects_v2(Bucket=BUCKET_NAME).get("KeyCount") == 0


def test_write_error_raises_history_write_error(
    app: ModuleType, s3_client: Any, description: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # BUCKET_NAME names a bucket that does not exist: PutObject fails with NoSuchBucket.
    monkeypatch.setenv("BUCKET_NAME", "no-such-bucket-for-history")
    stubber = stub_history(app, [[summary(description, 1)]], description)

    with stubber, pytest.raises(tuning_history.HistoryWriteError, match="NoSuchBucket"):
        app.lambda_handler(event(description), None)


@pytest.mark.parametrize(
    "prefix",
    [None, "", "runs/", "data/x/", "runs/x", "runs/../other/", "runs/a/b/", 42, "../runs/x/"],
)
def test_bad_run_prefix_raises_invalid_tuning_job_description(
    app: ModuleType, bucket: str, description: dict[str, Any], prefix: Any
) -> None:
    with pytest.raises(best_job.InvalidTuningJobDescription, match="runPrefix"):
        app.lambda_handler(event(description, prefix), None)


def test_missing_bucket_name_raises_configuration_error(
    app: ModuleType, description: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BUCKET_NAME", raising=False)

    with pytest.raises(app.ConfigurationError, match="BUCKET_NAME"):
        app.lambda_handler(event(description), None)


@pytest.mark.parametrize("tuning", [None, "x", [1], {}])
def test_tuning_that_is_not_a_description_raises_invalid_tuning_job_description(
    app: ModuleType, bucket: str, tuning: Any
) -> None:
    with pytest.raises(best_job.InvalidTuningJobDescription):
        app.lambda_handler({"tuning": tuning, "runPrefix": RUN_PREFIX}, None)


def test_bare_description_is_refused_naming_the_event_the_state_machine_sends(
    app: ModuleType, bucket: str, s3_client: Any, description: dict[str, Any]
) -> None:
    with pytest.raises(best_job.InvalidTuningJobDescription) as raised:
        app.lambda_handler(description, None)

    assert str(raised.value).startswith('the event must be {"tuning": ')
    assert "with keys BestTrainingJob, ConsumedResources" in str(raised.value)
    assert s3_client.list_objects_v2(Bucket=BUCKET_NAME).get("KeyCount") == 0


def test_state_machine_passes_the_description_and_the_run_prefix(
    state_machine_definition: dict[str, Any],
) -> None:
    state = state_machine_definition["States"]["Extract Model Path"]
    assert state["Parameters"]["Payload"] == {"tuning.$": "$.tuning", "runPrefix.$": "$.dataset.prefix"}
    assert state["ResultSelector"]["trainingJobsUri.$"] == "$.Payload.trainingJobsUri"


def test_a_history_that_is_not_valid_json_is_a_history_write_error(app: ModuleType, s3_client: Any) -> None:
    with pytest.raises(tuning_history.HistoryWriteError, match="not valid JSON"):
        tuning_history.write_history(
            s3_client, BUCKET_NAME, "runs/x/tuning/training-jobs.json", {"value": float("nan")}
        )
