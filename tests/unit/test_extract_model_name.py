"""Extract Model Name: CreateModel's output in, the model's name out; anything else is InvalidModelArn."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

ACCOUNT = "123456789012"
SAGEMAKER = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:"
GOOD_PREFIX = f"{SAGEMAKER}model/"


@pytest.fixture
def app(load_handler: Callable[[str], ModuleType]) -> ModuleType:
    return load_handler("extract_model_name")


def test_event_file_gives_the_best_training_jobs_name(
    app: ModuleType, load_event: Callable[[str], Any], lambda_context: Any
) -> None:
    event = load_event("extract_model_name")
    best = load_event("extract_model_path")["tuning"]["BestTrainingJob"]["TrainingJobName"]

    result = app.lambda_handler(event, lambda_context)

    # Save Model names the model after the best training job: the two events describe one run.
    assert result == {"modelName": best, "modelArn": event["ModelArn"]}
    assert json.loads(json.dumps(result)) == result


def test_output_has_every_key_the_state_machine_selects(
    app: ModuleType, load_event: Callable[[str], Any], state_machine_definition: dict[str, Any]
) -> None:
    selector = state_machine_definition["States"]["Extract Model Name"]["ResultSelector"]
    result = app.lambda_handler(load_event("extract_model_name"), None)

    for path in selector.values():
        assert path.startswith("$.Payload.")
        assert path.removeprefix("$.Payload.") in result, path


def test_extra_keys_beside_model_arn_are_ignored(app: ModuleType, load_event: Callable[[str], Any]) -> None:
    """Step Functions may add SDK metadata to a service integration's output."""
    event = load_event("extract_model_name")
    expected = app.lambda_handler(dict(event), None)
    event["SdkHttpMetadata"] = {"HttpStatusCode": 200}
    event["SdkResponseMetadata"] = {"RequestId": "0e9b7c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b"}

    assert app.lambda_handler(event, None) == expected


@pytest.mark.parametrize(
    ("arn", "name"),
    [
        (f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model/m", "m"),
        (f"arn:aws:sagemaker:eu-west-2:{ACCOUNT}:model/run-1a2b3c-013-deadbeef", "run-1a2b3c-013-deadbeef"),
        (f"arn:aws-cn:sagemaker:cn-north-1:{ACCOUNT}:model/cn-model", "cn-model"),
        (f"arn:aws-us-gov:sagemaker:us-gov-west-1:{ACCOUNT}:model/gov-model", "gov-model"),
        (f"arn:aws-iso-b:sagemaker:us-isob-east-1:{ACCOUNT}:model/iso", "iso"),
        (f"arn:aws:sagemaker:ap-southeast-4:{ACCOUNT}:model/a--b", "a--b"),
        (GOOD_PREFIX + "a" * 63, "a" * 63),
        (GOOD_PREFIX + "a" + "-" * 61 + "b", "a" + "-" * 61 + "b"),
        (GOOD_PREFIX + "MixedCase1", "MixedCase1"),
    ],
)
def test_valid_model_arns_give_their_name(app: ModuleType, arn: str, name: str) -> None:
    assert app.lambda_handler({"ModelArn": arn}, None) == {"modelName": name, "modelArn": arn}


@pytest.mark.parametrize(
    "arn",
    [
        pytest.param("", id="empty"),
        pytest.param("model/abc", id="bare-resource"),
        pytest.param("abc", id="bare-name"),
        pytest.param(f"arn:aws:lambda:us-east-1:{ACCOUNT}:model/abc", id="wrong-service"),
        pytest.param("arn:aws:s3:::my-bucket", id="s3-arn"),
        pytest.param(SAGEMAKER + "training-job/abc", id="wrong-resource-training-job"),
        pytest.param(SAGEMAKER + "endpoint/abc", id="wrong-resource-endpoint"),
        pytest.param(SAGEMAKER + "model-package/abc", id="wrong-resource-package"),
        pytest.param(SAGEMAKER + "abc", id="no-resource-type"),
        pytest.param(f"arn:azure:sagemaker:us-east-1:{ACCOUNT}:model/abc", id="wrong-partition"),
        pytest.param(f"arn::sagemaker:us-east-1:{ACCOUNT}:model/abc", id="empty-partition"),
        pytest.param(f"arn:AWS:sagemaker:us-east-1:{ACCOUNT}:model/abc", id="upper-case-partition"),
        pytest.param(f"arn:aws:sagemaker::{ACCOUNT}:model/abc", id="empty-region"),
        pytest.param(f"arn:aws:sagemaker:us-east:{ACCOUNT}:model/abc", id="region-without-number"),
        pytest.param(f"arn:aws:sagemaker:US-EAST-1:{ACCOUNT}:model/abc", id="upper-case-region"),
        pytest.param(f"arn:aws:sagemaker:useast1:{ACCOUNT}:model/abc", id="region-without-hyphens"),
        pytest.param("arn:aws:sagemaker:us-east-1::model/abc", id="empty-account"),
        pytest.param("arn:aws:sagemaker:us-east-1:12345678901:model/abc", id="account-11-digits"),
        pytest.param("arn:aws:sagemaker:us-east-1:1234567890123:model/abc", id="account-13-digits"),
        pytest.param("arn:aws:sagemaker:us-east-1:12345678901x:model/abc", id="account-with-letter"),
        pytest.param(GOOD_PREFIX, id="empty-name"),
        pytest.param(GOOD_PREFIX + "abc-", id="trailing-hyphen"),
        pytest.param(GOOD_PREFIX + "-abc", id="leading-hyphen"),
        pytest.param(GOOD_PREFIX + "my_model", id="underscore"),
        pytest.param(GOOD_PREFIX + "my.model", id="dot"),
        pytest.param(GOOD_PREFIX + "a/b", id="slash"),
        pytest.param(GOOD_PREFIX + "modèle", id="non-ascii"),
        pytest.param(GOOD_PREFIX + "a" * 64, id="name-64-characters"),
        pytest.param(GOOD_PREFIX + "a" + "-" * 70 + "b", id="name-too-long-through-hyphens"),
        pytest.param(GOOD_PREFIX + "abc\n", id="trailing-newline"),
        pytest.param(" " + GOOD_PREFIX + "abc", id="leading-space"),
        pytest.param(GOOD_PREFIX + "abc ", id="trailing-space"),
        pytest.param(GOOD_PREFIX + "abc/extra", id="extra-path"),
    ],
)
def test_malformed_model_arn_raises_invalid_model_arn_naming_it(app: ModuleType, arn: str) -> None:
    with pytest.raises(app.InvalidModelArn) as raised:
        app.lambda_handler({"ModelArn": arn}, None)

    assert raised.type is app.InvalidModelArn
    assert repr(arn) in str(raised.value)


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (None, "NoneType"),
        (123, "int"),
        (1.5, "float"),
        (True, "bool"),
        ([GOOD_PREFIX + "abc"], "list"),
        ({"Arn": GOOD_PREFIX + "abc"}, "dict"),
    ],
)
def test_model_arn_of_wrong_type_raises_invalid_model_arn(
    app: ModuleType, value: Any, type_name: str
) -> None:
    with pytest.raises(app.InvalidModelArn) as raised:
        app.lambda_handler({"ModelArn": value}, None)

    assert raised.type is app.InvalidModelArn
    assert "ModelArn" in str(raised.value)
    assert type_name in str(raised.value)


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({}, id="empty-object"),
        pytest.param({"modelArn": GOOD_PREFIX + "abc"}, id="wrong-case-key"),
        pytest.param({"Model": {"ModelArn": GOOD_PREFIX + "abc"}}, id="nested"),
    ],
)
def test_event_without_model_arn_raises_invalid_model_arn(app: ModuleType, event: dict[str, Any]) -> None:
    with pytest.raises(app.InvalidModelArn, match="ModelArn") as raised:
        app.lambda_handler(event, None)

    assert raised.type is app.InvalidModelArn


@pytest.mark.parametrize(
    ("event", "type_name"),
    [
        (None, "NoneType"),
        (GOOD_PREFIX + "abc", "str"),
        ([{"ModelArn": GOOD_PREFIX + "abc"}], "list"),
        (7, "int"),
    ],
)
def test_event_that_is_not_an_object_raises_invalid_model_arn(
    app: ModuleType, event: Any, type_name: str
) -> None:
    with pytest.raises(app.InvalidModelArn, match=type_name) as raised:
        app.lambda_handler(event, None)

    assert raised.type is app.InvalidModelArn


def test_long_garbage_is_cut_in_the_message(app: ModuleType) -> None:
    with pytest.raises(app.InvalidModelArn) as raised:
        app.lambda_handler({"ModelArn": "x" * 10_000}, None)

    # Step Functions keeps at most 32 KiB of cause: the message stays short.
    assert len(str(raised.value)) < 400
