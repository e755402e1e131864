"""The execution input as the first state checks it: named errors for every bad key, type and bound."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import dataset_writer
import pytest

from tests.unit import dataset_support as support


@pytest.mark.parametrize("value", [None, ""])
def test_missing_bucket_name_raises_configuration_error(
    dataset_app: ModuleType, s3_client: Any, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("BUCKET_NAME", raising=False)
    else:
        monkeypatch.setenv("BUCKET_NAME", value)

    with pytest.raises(dataset_app.ConfigurationError, match="BUCKET_NAME") as raised:
        dataset_app.lambda_handler(support.event_for({}), None)

    assert raised.type is dataset_app.ConfigurationError


@pytest.mark.parametrize(
    ("event", "type_name"), [(None, "NoneType"), ([], "list"), ("{}", "str"), (42, "int"), (True, "bool")]
)
def test_event_that_is_not_an_object_raises_invalid_execution_input(
    dataset_app: ModuleType, bucket: str, event: Any, type_name: str
) -> None:
    with pytest.raises(dataset_app.InvalidExecutionInput, match=type_name) as raised:
        dataset_app.lambda_handler(event, None)

    assert raised.type is dataset_app.InvalidExecutionInput


@pytest.mark.parametrize(
    ("execution_input", "type_name"),
    [([], "list"), (["trainRows", 100], "list"), ("trainRows=100", "str"), (100, "int"), (True, "bool")],
)
def test_execution_input_that_is_not_an_object_raises_invalid_execution_input(
    dataset_app: ModuleType, bucket: str, s3_client: Any, execution_input: Any, type_name: str
) -> None:
    with pytest.raises(
        dataset_app.InvalidExecutionInput, match=f"execution input must be a JSON object, got {type_name}"
    ):
        dataset_app.lambda_handler(support.event_for(execution_input), None)

    assert support.all_keys(s3_client, bucket) == set()


def test_null_or_absent_execution_input_means_the_defaults(dataset_app: ModuleType, bucket: str) -> None:
    absent = support.event_for({})
    del absent["input"]
    null = support.event_for({})
    null["input"] = None

    assert dataset_app.lambda_handler(absent, None)["input"] == support.DEFAULT_INPUT
    assert dataset_app.lambda_handler(null, None)["input"] == support.DEFAULT_INPUT


@pytest.mark.parametrize(
    "execution_input",
    [
        {"rows": 100},
        {"trainrows": 100},
        {"TrainRows": 100},
        {"train_rows": 100},
        {"trainRows": 100, "epochs": 3},
        {"": 1},
        {"input": {"trainRows": 100}},
    ],
)
def test_unknown_key_raises_invalid_execution_input_naming_it_and_the_allowed_keys(
    dataset_app: ModuleType, bucket: str, s3_client: Any, execution_input: dict[str, Any]
) -> None:
    unknown = next(key for key in execution_input if key not in support.DEFAULT_INPUT)

    with pytest.raises(dataset_app.InvalidExecutionInput) as raised:
        dataset_app.lambda_handler(support.event_for(execution_input), None)

    message = str(raised.value)
    assert raised.type is dataset_app.InvalidExecutionInput
    assert f"unknown key '{unknown}'" in message
    assert "in the execution input; allowed keys: " in message
    assert all(key in message.split("allowed keys: ")[1] for key in support.DEFAULT_INPUT)
    assert support.all_keys(s3_client, bucket) == set()


@pytest.mark.parametrize("key", list(support.DEFAULT_INPUT))
@pytest.mark.parametrize(
    "value",
    [
        pytest.param("100", id="numeric-string"),
        pytest.param("", id="empty-string"),
        pytest.param([100], id="list"),
        pytest.param({"value": 100}, id="nested-object"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(None, id="null"),
    ],
)
def test_value_of_wrong_type_raises_invalid_execution_input_naming_key_and_value(
    dataset_app: ModuleType, bucket: str, key: str, value: Any
) -> None:
    with pytest.raises(dataset_app.InvalidExecutionInput) as raised:
        dataset_app.lambda_handler(support.event_for({key: value}), None)

    assert raised.type is dataset_app.InvalidExecutionInput
    expected = "a number" if key == "noise" else "a whole number"
    assert str(raised.value) == f"{key} must be {expected}, got {json.dumps(value)}"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("trainRows", 99),
        ("trainRows", 0),
        ("trainRows", -1),
        ("trainRows", 100_000_001),
        # JSON allows any integer: these overflowed math.isfinite.
        pytest.param("trainRows", 10**400, id="trainRows-10**400"),
        pytest.param("trainRows", -(10**400), id="trainRows--10**400"),
        ("trainRows", 1e300),
        ("validationRows", 19),
        ("validationRows", -20),
        ("testRows", 19),
        ("testRows", 10_000_001),
        ("noise", -0.001),
        ("noise", -1),
        ("noise", 100.0001),
        pytest.param("noise", 10**400, id="noise-10**400"),
        ("noise", float("inf")),
        ("noise", float("-inf")),
        ("seed", -1),
        ("seed", 2**31),
        ("seed", 2**63),
    ],
)
def test_out_of_range_value_raises_invalid_execution_input_naming_key_and_value(
    dataset_app: ModuleType, bucket: str, s3_client: Any, key: str, value: float
) -> None:
    with pytest.raises(dataset_app.InvalidExecutionInput) as raised:
        dataset_app.lambda_handler(support.event_for({key: value}), None)

    message = str(raised.value)
    assert raised.type is dataset_app.InvalidExecutionInput
    assert message.startswith((f"{key} must be >= ", f"{key} must be <= "))
    shown = json.dumps(value)
    assert message.endswith(f"got {shown}" if len(shown) <= 80 else "...")
    assert support.all_keys(s3_client, bucket) == set()


@pytest.mark.parametrize("key", ["trainRows", "validationRows", "testRows", "seed"])
@pytest.mark.parametrize("value", [100.5, 1000.000001, -0.5, float("inf"), float("-inf")])
def test_non_integer_count_raises_invalid_execution_input_naming_key_and_value(
    dataset_app: ModuleType, bucket: str, key: str, value: float
) -> None:
    with pytest.raises(dataset_app.InvalidExecutionInput) as raised:
        dataset_app.lambda_handler(support.event_for({key: value}), None)

    assert raised.type is dataset_app.InvalidExecutionInput
    assert str(raised.value) == f"{key} must be a whole number, got {json.dumps(value)}"


@pytest.mark.parametrize("key", [*support.DEFAULT_INPUT, "maxTestRmse"])
def test_nan_raises_invalid_execution_input_naming_the_key(
    dataset_app: ModuleType, bucket: str, key: str
) -> None:
    # JSON has no NaN, but NaN would pass every minimum and maximum of the schema.
    with pytest.raises(dataset_app.InvalidExecutionInput) as raised:
        dataset_app.lambda_handler(support.event_for({key: float("nan")}), None)

    assert str(raised.value) == f"{key} must be a finite number, got NaN"


@pytest.mark.parametrize(
    ("execution_input", "attribute", "expected"),
    [
        ({"trainRows": 100}, "train_rows", 100),
        ({"trainRows": 1_000_000}, "train_rows", 1_000_000),
        ({"trainRows": 500.0}, "train_rows", 500),  # JSON 500.0 is a whole number
        ({"validationRows": 20}, "validation_rows", 20),
        ({"testRows": 20}, "test_rows", 20),
        ({"noise": 0}, "noise", 0.0),
        ({"noise": 100}, "noise", 100.0),
        ({"noise": 2}, "noise", 2.0),
        ({"seed": 0}, "seed", 0),
        ({"seed": 2**31 - 1}, "seed", 2**31 - 1),
    ],
)
def test_boundary_values_are_accepted_with_their_type(
    dataset_app: ModuleType, execution_input: dict[str, Any], attribute: str, expected: float
) -> None:
    value = getattr(dataset_writer.parse_spec(execution_input), attribute)

    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    "execution",
    [
        pytest.param(..., id="missing"),
        pytest.param(None, id="null"),
        pytest.param("arn:aws:states:...", id="string"),
        pytest.param([], id="list"),
    ],
)
def test_missing_or_malformed_execution_raises_invalid_execution_input(
    dataset_app: ModuleType, bucket: str, execution: Any
) -> None:
    event = support.event_for({})
    if execution is ...:
        del event["execution"]
    else:
        event["execution"] = execution

    with pytest.raises(dataset_app.InvalidExecutionInput, match=r"'execution' must be an object") as raised:
        dataset_app.lambda_handler(event, None)

    assert raised.type is dataset_app.InvalidExecutionInput


@pytest.mark.parametrize("key", ["id", "name", "startTime"])
@pytest.mark.parametrize(
    "value", [pytest.param(..., id="missing"), None, "", 42, ["x"], {"value": "x"}, True]
)
def test_bad_execution_field_raises_invalid_execution_input_naming_it(
    dataset_app: ModuleType, bucket: str, s3_client: Any, key: str, value: Any
) -> None:
    event = support.event_for({})
    if value is ...:
        del event["execution"][key]
    else:
        event["execution"][key] = value

    with pytest.raises(dataset_app.InvalidExecutionInput) as raised:
        dataset_app.lambda_handler(event, None)

    assert raised.type is dataset_app.InvalidExecutionInput
    assert f"execution.{key}" in str(raised.value)
    assert support.all_keys(s3_client, bucket) == set()
