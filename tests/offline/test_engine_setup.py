"""Before anything runs: the template resolved, the definition substituted and checked as AWS would.

A definition Step Functions or CloudFormation would refuse makes the offline run refuse it too, with a
message naming the place; these checks need no execution.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from offline.engine import (
    DefinitionError,
    Engine,
    OfflineRunError,
    json_safe,
    sagemaker_error_name,
)


@pytest.mark.parametrize(
    ("region", "partition", "suffix"),
    [
        ("us-east-1", "aws", "amazonaws.com"),
        ("eu-west-1", "aws", "amazonaws.com"),
        ("cn-north-1", "aws-cn", "amazonaws.com.cn"),
    ],
)
def test_substitutions_take_the_image_from_the_mapping_and_arns_from_the_stack(
    template: dict[str, Any], region: str, partition: str, suffix: str
) -> None:
    engine = Engine(region=region)

    subs = engine.substitutions
    account = template["Mappings"]["XGBoostRegistry"][region]["Account"]
    version = template["Parameters"]["XGBoostVersion"]["Default"]
    assert subs["XGBoostImageUri"] == f"{account}.dkr.ecr.{region}.{suffix}/sagemaker-xgboost:{version}"
    assert subs["Partition"] == partition
    for key in ("GenerateDatasetFunctionArn", "ExtractModelPathFunctionArn", "ExtractModelNameFunctionArn"):
        assert re.fullmatch(
            rf"arn:{partition}:lambda:{region}:123456789012:function:[\w-]{{1,64}}", subs[key]
        )
    assert re.fullmatch(
        rf"arn:{partition}:iam::123456789012:role/[\w-]{{1,64}}", subs["SageMakerExecutionRoleArn"]
    )
    assert subs["MaxTrainingJobs"] == str(template["Parameters"]["MaxTrainingJobs"]["Default"])
    assert "${" not in engine.definition_text


def test_parameter_overrides_reach_the_definition_as_numbers() -> None:
    engine = Engine(parameters={"MaxTrainingJobs": 7, "TrainingInstanceType": "ml.c5.xlarge"})

    assert "States.StringToJson('7')" in engine.definition_text
    tuning = engine.definition["States"]["HyperparameterTuning (XGBoost)"]["Parameters"]
    assert tuning["TrainingJobDefinition"]["ResourceConfig"]["InstanceType"] == "ml.c5.xlarge"


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"MaxTrainingJobs": 0}, "parameter MaxTrainingJobs must be between 1 and 100, got 0"),
        (
            {"XGBoostVersion": "latest"},
            "parameter XGBoostVersion must be one of 1.7-1, 3.0-5, 3.2-0, got 'latest'",
        ),
        ({"MaxJobs": 3}, "unknown template parameter(s): MaxJobs"),
    ],
)
def test_parameter_outside_the_templates_constraints_is_refused(
    parameters: dict[str, Any], message: str
) -> None:
    with pytest.raises(OfflineRunError) as excinfo:
        Engine(parameters=parameters)
    assert message in str(excinfo.value)


def test_placeholder_without_a_substitution_is_refused_naming_it(
    broken_definition: Callable[[str, str], Path],
) -> None:
    path = broken_definition('"TrainingImage": "${XGBoostImageUri}"', '"TrainingImage": "${XGBoostImage}"')

    with pytest.raises(DefinitionError) as excinfo:
        Engine(definition_path=path)
    assert "${XGBoostImage} has no entry in the template's DefinitionSubstitutions" in str(excinfo.value)


def test_next_to_a_missing_state_is_refused_with_statelints_message(
    broken_definition: Callable[[str, str], Path],
) -> None:
    path = broken_definition('"Next": "Extract Model Name"', '"Next": "Extract Model Names"')

    with pytest.raises(DefinitionError) as excinfo:
        Engine(definition_path=path)
    message = str(excinfo.value)
    assert "fails statelint" in message
    assert '"Extract Model Names"' in message or "Extract Model Names" in message


def test_sagemaker_parameter_the_api_lacks_is_refused_as_step_functions_does(
    broken_definition: Callable[[str, str], Path],
) -> None:
    path = broken_definition('"BatchStrategy": "MultiRecord"', '"BatchStrategie": "MultiRecord"')

    with pytest.raises(DefinitionError) as excinfo:
        Engine(definition_path=path)
    assert (
        'SCHEMA_VALIDATION_FAILED: The field "BatchStrategie" is not supported by Step Functions at '
        "/States/Batch transform/Parameters"
    ) in str(excinfo.value)


def test_sync_on_an_action_that_cannot_wait_is_refused(broken_definition: Callable[[str, str], Path]) -> None:
    path = broken_definition('sagemaker:createModel"', 'sagemaker:createModel.sync"')

    with pytest.raises(DefinitionError) as excinfo:
        Engine(definition_path=path)
    assert "arn:aws:states:::sagemaker:createModel.sync is not recognized" in str(excinfo.value)


@pytest.mark.parametrize(
    ("operation", "code", "error"),
    [
        ("CreateTransformJob", "ResourceLimitExceeded", "SageMaker.ResourceLimitExceededException"),
        ("CreateHyperParameterTuningJob", "ResourceInUse", "SageMaker.ResourceInUseException"),
        ("CreateHyperParameterTuningJob", "ThrottlingException", "SageMaker.AmazonSageMakerException"),
        ("CreateModel", "ValidationException", "SageMaker.AmazonSageMakerException"),
    ],
)
def test_sagemaker_errors_are_named_after_the_java_sdks_exception_classes(
    operation: str, code: str, error: str
) -> None:
    assert sagemaker_error_name(operation, code) == error


def test_sdk_responses_become_json_with_epoch_millisecond_timestamps() -> None:
    moment = datetime.datetime(2026, 11, 28, 10, 0, 0, 123000, tzinfo=datetime.UTC)

    value = json_safe(
        {"CreationTime": moment, "ResponseMetadata": {"RequestId": "x"}, "Jobs": [{"At": moment}]}
    )

    assert value == {"CreationTime": 1795860000123, "Jobs": [{"At": 1795860000123}]}
