"""The offline SageMaker emulator checks requests as SageMaker does: names, unknown keys, missing members,
constraints, reused names, empty channels, refused configurations and unknown jobs.

The requests come from the state machine definition itself (``statemachine/tuning.asl.json``), with the
template's substitutions filled in (``emulator_support.py``); the data is a few hundred rows of Friedman #1.
One moto mock serves each module; every test works in its own bucket with its own emulator.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.offline.emulator_support import (
    ACCOUNT_ID,
    REGION,
    ROLE,
    Workspace,
    config,
    error_of,
    tuning_job_refusal,
    tuning_request,
)


def test_a_tuning_job_name_longer_than_32_characters_is_rejected_in_sagemakers_words(
    workspace: Workspace,
) -> None:
    name = "run-" + "-" * 27 + "a1"  # hyphens repeat freely in the pattern: only the length is wrong
    message = tuning_job_refusal(workspace, tuning_request(workspace.dataset, name))
    assert message == (
        f"1 validation error detected: Value '{name}' at 'hyperParameterTuningJobName' failed to satisfy "
        "constraint: Member must have length less than or equal to 32"
    )


def test_a_console_execution_name_is_too_long_for_a_tuning_job(workspace: Workspace) -> None:
    name = str(uuid.UUID(int=7))  # 36 characters, as the console names executions; the pattern allows it
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**tuning_request(workspace.dataset, name))
    _, message = error_of(excinfo)
    assert message.startswith(
        f"1 validation error detected: Value '{name}' at 'hyperParameterTuningJobName' "
    )
    assert message.endswith("Member must have length less than or equal to 32")


def test_a_name_breaking_length_and_pattern_reports_both(workspace: Workspace) -> None:
    name = "a" * 33  # 33 alphanumerics: the pattern allows 32
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**tuning_request(workspace.dataset, name))
    _, message = error_of(excinfo)
    assert message.startswith(
        f"2 validation errors detected: Value '{name}' at 'hyperParameterTuningJobName' "
    )
    assert "Member must have length less than or equal to 32; Value " in message
    assert message.endswith(
        "Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}"
    )


def test_a_name_that_breaks_the_pattern_is_rejected(workspace: Workspace) -> None:
    message = tuning_job_refusal(workspace, tuning_request(workspace.dataset, "bad_name"))
    assert (
        "Value 'bad_name' at 'hyperParameterTuningJobName' failed to satisfy constraint: Member must satisfy "
        in (message)
    )
    assert "regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}" in message


def test_an_unknown_key_is_rejected(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    config(request)["PrecisionDtype"] = "float32"
    message = tuning_job_refusal(workspace, request)
    assert 'Unknown parameter in HyperParameterTuningJobConfig: "PrecisionDtype"' in message


def test_a_missing_required_member_is_reported_as_null(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    del config(request)["ResourceLimits"]["MaxParallelTrainingJobs"]
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**request)
    assert error_of(excinfo) == (
        "ValidationException",
        "1 validation error detected: Value null at "
        "'hyperParameterTuningJobConfig.resourceLimits.maxParallelTrainingJobs' failed to satisfy "
        "constraint: Member must not be null",
    )


def test_every_broken_constraint_is_counted_and_located(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    config(request)["Strategy"] = "Exhaustive"
    config(request)["ResourceLimits"]["MaxRuntimeInSeconds"] = 100
    definition = request["TrainingJobDefinition"]
    definition["InputDataConfig"][1]["ChannelName"] = "validation set"
    definition["StaticHyperParameters"]["objective"] = "x" * 2501
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**request)
    _, message = error_of(excinfo)
    assert message.startswith("4 validation errors detected: ")
    assert (
        "at 'hyperParameterTuningJobConfig.strategy' failed to satisfy constraint: Member must satisfy enum "
        in (message)
    )
    assert "value set: [Bayesian, Random, Hyperband, Grid]" in message
    assert (
        "Value 100 at 'hyperParameterTuningJobConfig.resourceLimits.maxRuntimeInSeconds' failed to satisfy "
        "constraint: Member must have value greater than or equal to 120" in message
    )
    assert "Value 'validation set' at 'trainingJobDefinition.inputDataConfig.2.member.channelName'" in message
    assert (
        "at 'trainingJobDefinition.staticHyperParameters' failed to satisfy constraint: Map value must "
        in message
    )
    assert "Member must have length less than or equal to 2500" in message


def test_hyperparameter_values_must_be_strings(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    request["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"] = 1000
    message = tuning_job_refusal(workspace, request)
    assert "Invalid type for parameter TrainingJobDefinition.StaticHyperParameters.num_round" in message


def test_a_reused_tuning_job_name_is_resource_in_use_whatever_its_case(
    tuned: tuple[Workspace, dict[str, Any]],
) -> None:
    space, description = tuned
    request = tuning_request(space.dataset, description["HyperParameterTuningJobName"].upper())
    with pytest.raises(ClientError) as excinfo:
        space.sagemaker.create_hyper_parameter_tuning_job(**request)
    code, message = error_of(excinfo)
    assert code == "ResourceInUse"
    assert description["HyperParameterTuningJobArn"] in message


def test_a_channel_without_objects_is_rejected_when_the_tuning_job_is_created(workspace: Workspace) -> None:
    dataset = {**workspace.dataset, "trainUri": f"s3://{workspace.bucket}/data/trian/"}
    message = tuning_job_refusal(workspace, tuning_request(dataset))
    assert message.startswith(
        f'No S3 objects found under S3 URL "s3://{workspace.bucket}/data/trian/" given in input'
    )
    assert ROLE in message
    with pytest.raises(ClientError):
        workspace.sagemaker.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=dataset["tuningJobName"]
        )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda r: r["TrainingJobDefinition"]["AlgorithmSpecification"].update(
                TrainingImage="1.dkr.ecr/xgboost:latest"
            ),
            "legacy XGBoost",
        ),
        (
            lambda r: r["TrainingJobDefinition"]["AlgorithmSpecification"].update(
                TrainingImage="1.dkr.ecr/linear-learner:1"
            ),
            "not the built-in XGBoost",
        ),
        (
            lambda r: r["TrainingJobDefinition"]["StaticHyperParameters"].update(eta="0.3"),
            "both static and tuned: eta",
        ),
        (lambda r: config(r).update(Strategy="Hyperband"), "TrainingJobEarlyStoppingType must be Off"),
        (
            lambda r: config(r).update(Strategy="Hyperband", TrainingJobEarlyStoppingType="Off"),
            "needs HyperbandStrategyConfig.MaxResource",
        ),
        (lambda r: config(r).update(Strategy="Grid"), "searches categorical parameters only"),
        (
            lambda r: config(r)["ParameterRanges"]["ContinuousParameterRanges"][0].update(MinValue="0"),
            "Logarithmic scaling works only",
        ),
        (
            lambda r: config(r)["ParameterRanges"]["IntegerParameterRanges"][0].update(MinValue="11"),
            "greater than its MaxValue",
        ),
    ],
    ids=[
        "legacy-image",
        "other-algorithm",
        "static-and-tuned",
        "hyperband-early-stopping",
        "hyperband-no-max-resource",
        "grid-continuous",
        "log-scale-from-zero",
        "min-above-max",
    ],
)
def test_configurations_sagemaker_refuses_are_validation_errors(
    workspace: Workspace, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    request = tuning_request(workspace.dataset)
    change(request)
    message = tuning_job_refusal(workspace, request)
    assert expected in message


def test_unknown_jobs_are_reported_as_sagemaker_does(workspace: Workspace) -> None:
    api = workspace.sagemaker
    with pytest.raises(ClientError) as excinfo:
        api.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="nope")
    assert error_of(excinfo)[0] == "ResourceNotFound"
    with pytest.raises(ClientError) as excinfo:
        api.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName="nope")
    assert error_of(excinfo)[0] == "ResourceNotFound"
    with pytest.raises(ClientError) as excinfo:
        api.describe_training_job(TrainingJobName="nope")
    assert error_of(excinfo) == ("ValidationException", "Requested resource not found.")
    with pytest.raises(ClientError) as excinfo:
        api.describe_model(ModelName="nope")
    assert error_of(excinfo) == (
        "ValidationException",
        f'Could not find model "arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model/nope".',
    )
    with pytest.raises(ClientError) as excinfo:
        api.describe_transform_job(TransformJobName="nope")
    assert error_of(excinfo)[0] == "ValidationException"
