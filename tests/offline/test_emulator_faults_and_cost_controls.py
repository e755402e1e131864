"""The offline SageMaker emulator's injected faults, API dispatch and tags, and its cost controls
(completion criteria, managed spot training, checkpoints, Hyperband).

The requests come from the state machine definition itself (``statemachine/tuning.asl.json``), with the
template's substitutions filled in (``emulator_support.py``); the data is a few hundred rows of Friedman #1.
One moto mock serves each module; every test works in its own bucket with its own emulator.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.offline.emulator_support import (
    ACCOUNT_ID,
    CONFIG,
    REGION,
    SEARCH,
    Workspace,
    config,
    definition,
    error_of,
    model_request,
    resolve,
    tuning_request,
)


def test_an_injected_fault_is_raised_the_given_number_of_times(workspace: Workspace) -> None:
    workspace.put("models/m/output/model.tar.gz", b"x")
    request = model_request("faulty", f"s3://{workspace.bucket}/models/m/output/model.tar.gz")
    workspace.sagemaker.inject_fault("CreateModel", "ThrottlingException", "Rate exceeded", times=2)
    for _ in range(2):
        with pytest.raises(ClientError) as excinfo:
            workspace.sagemaker.create_model(**copy.deepcopy(request))
        assert error_of(excinfo) == ("ThrottlingException", "Rate exceeded")
        assert excinfo.value.operation_name == "CreateModel"
    assert workspace.sagemaker.create_model(**request)["ModelArn"].endswith(":model/faulty")

    workspace.sagemaker.inject_fault("create_hyper_parameter_tuning_job", "ResourceLimitExceeded")
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.call("CreateHyperParameterTuningJob", tuning_request(workspace.dataset))
    assert error_of(excinfo)[0] == "ResourceLimitExceeded"
    with pytest.raises(ValueError, match="unknown operation"):
        workspace.sagemaker.inject_fault("CreateEndpoint", "ThrottlingException")


def test_call_dispatches_by_api_name(workspace: Workspace) -> None:
    workspace.put("models/m/output/model.tar.gz", b"x")
    url = f"s3://{workspace.bucket}/models/m/output/model.tar.gz"
    assert workspace.sagemaker.call("CreateModel", model_request("dispatched", url))["ModelArn"].endswith(
        "/dispatched"
    )
    assert workspace.sagemaker.call("DescribeModel", {"ModelName": "dispatched"})["ModelName"] == "dispatched"
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.call("CreateEndpoint", {"EndpointName": "e", "EndpointConfigName": "c"})
    assert error_of(excinfo)[0] == "UnknownOperationException"


def test_tags_are_kept_per_resource(workspace: Workspace) -> None:
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model/tagged"
    tags = [
        {
            "Key": "AWS_STEP_FUNCTIONS_EXECUTION_ARN",
            "Value": "arn:aws:states:us-east-1:123456789012:execution:m:e",
        }
    ]
    assert workspace.sagemaker.add_tags(ResourceArn=arn, Tags=tags) == {"Tags": tags}
    workspace.sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ml"}])
    assert workspace.sagemaker.list_tags(ResourceArn=arn)["Tags"] == [*tags, {"Key": "team", "Value": "ml"}]
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.add_tags(ResourceArn="not-an-arn", Tags=tags)
    assert error_of(excinfo)[0] == "ValidationException"


# --- cost controls: completion criteria, managed spot training, checkpoints --------------------------------


def test_best_objective_not_improving_launches_no_more_jobs_and_is_reported(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    config(request)["ResourceLimits"].update(MaxNumberOfTrainingJobs=30, MaxParallelTrainingJobs=1)
    config(request)["TuningJobCompletionCriteria"] = {
        "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}
    }

    description = workspace.tune(request)

    launched = len(workspace.training_jobs(request["HyperParameterTuningJobName"]))
    assert description["HyperParameterTuningJobStatus"] == "Completed"
    assert 4 <= launched < 30, "stopped once 3 jobs in a row did not improve the best"
    assert description["TuningJobCompletionDetails"]["NumberOfTrainingJobsObjectiveNotImproving"] == 3
    assert "BestTrainingJob" in description


def test_spot_training_jobs_report_spot_billable_time_and_their_checkpoints(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    definition = request["TrainingJobDefinition"]
    definition["EnableManagedSpotTraining"] = True
    definition["StoppingCondition"] = {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    # The definition sends none (run_config.py says why), but SageMaker accepts one and so does the emulator.
    definition["CheckpointConfig"] = {"S3Uri": "s3://example-bucket/checkpoints/"}

    description = workspace.tune(request)

    assert description["HyperParameterTuningJobStatus"] == "Completed"
    assert description["TrainingJobDefinition"]["EnableManagedSpotTraining"] is True
    job = workspace.sagemaker.describe_training_job(
        TrainingJobName=description["BestTrainingJob"]["TrainingJobName"]
    )
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert job["CheckpointConfig"] == definition["CheckpointConfig"]
    assert job["CheckpointConfig"]["S3Uri"].endswith("/checkpoints/")
    assert 1 <= job["BillableTimeInSeconds"] <= job["TrainingTimeInSeconds"]


def test_on_demand_jobs_bill_their_whole_training_time(tuned: tuple[Workspace, dict[str, Any]]) -> None:
    space, description = tuned
    job = space.sagemaker.describe_training_job(
        TrainingJobName=description["BestTrainingJob"]["TrainingJobName"]
    )

    assert job["EnableManagedSpotTraining"] is False
    assert job["BillableTimeInSeconds"] == job["TrainingTimeInSeconds"]


@pytest.mark.parametrize(
    ("spot", "stopping", "words"),
    [
        (
            True,
            {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 1800},
            "MaxWaitTimeInSeconds (1800) must be equal to or greater than MaxRuntimeInSeconds (3600)",
        ),
        (
            True,
            {"MaxRuntimeInSeconds": 3600},
            "MaxWaitTimeInSeconds is required when EnableManagedSpotTraining is true",
        ),
        (
            False,
            {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
            "MaxWaitTimeInSeconds is only supported with managed spot training",
        ),
    ],
)
def test_spot_settings_sagemaker_refuses_are_validation_errors(
    workspace: Workspace, spot: bool, stopping: dict[str, int], words: str
) -> None:
    request = tuning_request(workspace.dataset)
    request["TrainingJobDefinition"].update(EnableManagedSpotTraining=spot, StoppingCondition=stopping)

    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**request)

    assert error_of(excinfo) == ("ValidationException", words)
    assert workspace.events == [], "no training job may start"


def test_the_definitions_hyperband_config_is_accepted_and_stops_jobs_itself(workspace: Workspace) -> None:
    parameters = definition()["States"]["HyperparameterTuning (XGBoost)"]["Parameters"]
    checkpoints = {"S3Uri": workspace.dataset["modelOutputUri"].removesuffix("models/") + "checkpoints/"}
    tuning = {key: value for key, value in CONFIG["tuning"].items() if key != "TuningJobCompletionCriteria"}
    hyperband = {
        "tuning": {
            **tuning,
            "Strategy": "Hyperband",
            "TrainingJobEarlyStoppingType": "Off",
            "StrategyConfig": SEARCH["StrategyConfig"],
        },
        "training": {**CONFIG["training"], "checkpointConfig": checkpoints},
    }
    request = resolve(parameters, {"dataset": workspace.dataset, "config": hyperband})

    description = workspace.tune(request)

    assert description["HyperParameterTuningJobStatus"] == "Completed"
    assert config(description)["StrategyConfig"]["HyperbandStrategyConfig"]["MaxResource"] == int(
        request["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"]
    )
    # The same request with SageMaker's early stopping is refused.
    config(request)["TrainingJobEarlyStoppingType"] = "Auto"
    request["HyperParameterTuningJobName"] += "-auto"
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**request)
    assert error_of(excinfo) == (
        "ValidationException",
        "TrainingJobEarlyStoppingType must be Off to use the Hyperband strategy",
    )
