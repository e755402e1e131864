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
from offline.template import Stack, TemplateError, partition_of


def _refusal(error: type[Exception], **engine_arguments: Any) -> str:
    """The message of the ``error`` that ``Engine(**engine_arguments)`` raises."""
    with pytest.raises(error) as excinfo:
        Engine(**engine_arguments)
    return str(excinfo.value)


@pytest.mark.parametrize(
    ("region", "partition", "suffix"),
    [
        ("us-east-1", "aws", "amazonaws.com"),
        ("eu-west-1", "aws", "amazonaws.com"),
        ("cn-north-1", "aws-cn", "amazonaws.com.cn"),
        ("us-gov-west-1", "aws-us-gov", "amazonaws.com"),
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
    # The first state sends the template's values as the run's defaults.
    defaults = engine.definition["States"]["Generate Training Dataset"]["Parameters"]["Payload"]["defaults"]
    assert defaults["maxTrainingJobs.$"] == "States.StringToJson('7')"
    assert defaults["trainingInstanceType"] == "ml.c5.xlarge"


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
    assert message in _refusal(OfflineRunError, parameters=parameters)


def test_placeholder_without_a_substitution_is_refused_naming_it(
    broken_definition: Callable[..., Path],
) -> None:
    # Both tuning states (cold and warm-started) name the image.
    path = broken_definition(
        '"TrainingImage": "${XGBoostImageUri}"', '"TrainingImage": "${XGBoostImage}"', times=2
    )

    message = _refusal(DefinitionError, definition_path=path)
    assert "${XGBoostImage} has no entry in the template's DefinitionSubstitutions" in message


def test_next_to_a_missing_state_is_refused_with_statelints_message(
    broken_definition: Callable[..., Path],
) -> None:
    path = broken_definition('"Next": "Extract Model Name"', '"Next": "Extract Model Names"')

    message = _refusal(DefinitionError, definition_path=path)
    assert "fails statelint" in message
    assert '"Extract Model Names"' in message or "Extract Model Names" in message


def test_sagemaker_parameter_the_api_lacks_is_refused_as_step_functions_does(
    broken_definition: Callable[..., Path],
) -> None:
    path = broken_definition('"BatchStrategy": "MultiRecord"', '"BatchStrategie": "MultiRecord"')

    assert (
        'SCHEMA_VALIDATION_FAILED: The field "BatchStrategie" is not supported by Step Functions at '
        "/States/Batch transform/Parameters"
    ) in _refusal(DefinitionError, definition_path=path)


def test_sync_on_an_action_that_cannot_wait_is_refused(broken_definition: Callable[..., Path]) -> None:
    path = broken_definition('sagemaker:createModel"', 'sagemaker:createModel.sync"')

    message = _refusal(DefinitionError, definition_path=path)
    assert "arn:aws:states:::sagemaker:createModel.sync is not recognized" in message


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


# --- offline.template: the one resolver of the engine and the static tests ----------------------------


@pytest.mark.parametrize(
    ("region", "partition", "suffix"),
    [
        ("cn-northwest-1", "aws-cn", "amazonaws.com.cn"),
        ("us-gov-east-1", "aws-us-gov", "amazonaws.com"),
        ("us-iso-east-1", "aws-iso", "c2s.ic.gov"),
        ("eusc-de-east-1", "aws-eusc", "amazonaws.eu"),  # a partition newer than any prefix table
    ],
)
def test_partition_and_url_suffix_come_from_botocores_endpoint_data(
    region: str, partition: str, suffix: str
) -> None:
    assert partition_of(region) == (partition, suffix)
    assert Stack({}, region).ref("AWS::URLSuffix") == suffix


def test_intrinsics_resolve_to_the_names_and_arns_cloudformation_gives(template: dict[str, Any]) -> None:
    stack = Stack(template, "cn-north-1")
    bucket = stack.physical_name("DataBucket")
    role = stack.physical_name("GenerateDatasetFunctionRole")  # SAM's implicit role of the function

    assert re.fullmatch(r"sagemaker-xgboost-tuning-databucket-[a-z0-9]{12}", bucket)
    # IAM role names have at most 64 characters: the logical id part is shortened, not the random part.
    assert re.fullmatch(r"sagemaker-xgboost-tuning-GenerateDatasetFunctionRol-[A-Za-z0-9]{12}", role)
    assert stack.resolve({"Ref": "TuningStateMachine"}) == stack.get_att("TuningStateMachine", "Arn")
    assert (
        stack.resolve({"Fn::Sub": "${DataBucket.Arn}/runs/${!Literal}"})
        == f"arn:aws-cn:s3:::{bucket}/runs/${{Literal}}"
    )
    assert (
        stack.resolve({"Fn::Sub": ["${A}-${AWS::Region}", {"A": {"Ref": "MaxTrainingJobs"}}]})
        == f"{template['Parameters']['MaxTrainingJobs']['Default']}-cn-north-1"
    )
    assert stack.resolve({"Fn::Join": ["/", ["a", {"Ref": "AWS::Partition"}]]}) == "a/aws-cn"
    assert stack.resolve({"Fn::Select": ["1", ["a", {"Ref": "AWS::AccountId"}]]}) == "123456789012"
    image = stack.definition_substitutions()["XGBoostImageUri"]
    account = template["Mappings"]["XGBoostRegistry"]["cn-north-1"]["Account"]
    version = template["Parameters"]["XGBoostVersion"]["Default"]
    assert image == f"{account}.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:{version}"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Fn::If": ["IsProd", "a", "b"]}, "Fn::If is not evaluated offline"),
        ({"Fn::GetAtt": ["DataBucket", "WebsiteURL"]}, "!GetAtt DataBucket.WebsiteURL"),
        ({"Fn::FindInMap": ["XGBoostRegistry", "mars-east-1", "Account"]}, "no such entry"),
        ({"Ref": "NoSuchThing"}, "!Ref NoSuchThing: no parameter, pseudo parameter or resource"),
    ],
)
def test_an_intrinsic_the_resolver_cannot_evaluate_is_refused_by_name(
    template: dict[str, Any], value: dict[str, Any], message: str
) -> None:
    with pytest.raises(TemplateError) as excinfo:
        Stack(template).resolve(value)
    assert message in str(excinfo.value)
