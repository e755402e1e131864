"""The execution input contract: the schema, the validator generated from it, the template, events/, docs.

schema/execution-input.schema.json is the single source. These tests keep the function's generated validator,
the keys' table in docs/ and the template's parameters in line with it, check every key's bounds through the
handler's own validation (``execution_input.validate_execution_input``), and compare its verdicts with the
reference implementation of draft 2020-12 (``jsonschema``).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import jsonschema
import pytest

from offline.template import ROOT
from tests.conftest import EVENTS_DIR, load_event

SCHEMA_FILE = ROOT / "schema" / "execution-input.schema.json"
FUNCTION_DIR = ROOT / "functions" / "generate_dataset"
GENERATOR = ROOT / "scripts" / "generate_input_validator.py"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
PROPERTIES: dict[str, Any] = SCHEMA["properties"]
GENERATED_DATA_KEYS = ["trainRows", "validationRows", "testRows", "noise", "seed"]
DATA = {
    "trainUri": "s3://example-ml-datasets/housing/train.csv",
    "validationUri": "s3://example-ml-datasets/housing/validation.csv",
    "testUri": "s3://example-ml-datasets/housing/test.csv",
}
# Schema key -> the template parameter whose default it overrides (bounds and enums must agree).
TEMPLATE_PARAMETER = {
    "maxTrainingJobs": "MaxTrainingJobs",
    "maxParallelTrainingJobs": "MaxParallelTrainingJobs",
    "maxTrainingJobsNotImproving": "MaxTrainingJobsNotImproving",
    "trainingInstanceCount": "TrainingInstanceCount",
    "trainingInstanceType": "TrainingInstanceType",
    "transformInstanceType": "TransformInstanceType",
}


# Parameters another branch of issue 4 adds (A1: config keys). Remove each here once it is in the template;
# test_pending_parameters_are_not_in_the_template_yet fails as soon as one arrives, so this cannot go stale.
@pytest.fixture(scope="module")
def contract() -> Iterator[ModuleType]:
    """functions/generate_dataset/execution_input.py, imported as the Lambda runtime would (its directory on
    the path, so its generated sibling input_validator.py is found)."""
    added = str(FUNCTION_DIR) not in sys.path
    if added:
        sys.path.append(str(FUNCTION_DIR))
    spec = importlib.util.spec_from_file_location(
        "_execution_input_under_test", FUNCTION_DIR / "execution_input.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    if added:
        sys.path.remove(str(FUNCTION_DIR))


def error_of(contract: ModuleType, value: Any) -> str | None:
    """The handler's message for ``value``, or None when it accepts it."""
    try:
        contract.validate_execution_input(value)
    except contract.InvalidExecutionInput as e:
        return str(e)
    return None


# --- the schema itself --------------------------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_schema_lists_every_key_of_the_design_and_rejects_others() -> None:
    assert set(PROPERTIES) == {
        *GENERATED_DATA_KEYS,
        "data",
        "maxTrainingJobs",
        "maxParallelTrainingJobs",
        "strategy",
        "maxTrainingJobsNotImproving",
        "trainingInstanceType",
        "transformInstanceType",
        "trainingInstanceCount",
        "spot",
        "qualityGate",
        "maxTestRmse",
        "warmStart",
        "Comment",
    }
    assert SCHEMA["additionalProperties"] is False
    assert PROPERTIES["data"]["additionalProperties"] is False
    assert set(PROPERTIES["data"]["required"]) == set(DATA)


def test_every_key_has_a_title_and_a_description() -> None:
    keys = {**PROPERTIES, **{f"data.{k}": v for k, v in PROPERTIES["data"]["properties"].items()}}
    missing = [name for name, spec in keys.items() if not (spec.get("title") and spec.get("description"))]
    assert missing == []


# --- the generated validator and the keys' table ------------------------------------------------------------


def test_generated_validator_and_docs_table_are_in_sync_with_the_schema() -> None:
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_generator_would_see_a_changed_schema(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """The check above can fail: another maximum gives other code and another table."""
    spec = importlib.util.spec_from_file_location("_generate_input_validator", GENERATOR)
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    changed = json.loads(json.dumps(SCHEMA))
    changed["properties"]["maxTrainingJobs"]["maximum"] = 99
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(changed), encoding="utf-8")
    page = (ROOT / "docs" / "execution-input.md").read_text(encoding="utf-8")
    original_code, original_page = generator.render(), generator.render_table_page(page)
    monkeypatch.setattr(generator, "SCHEMA", schema_file)

    assert generator.render() != original_code
    assert generator.render_table_page(page) != original_page
    assert "| `maxTrainingJobs` | integer | 1 - 99 |" in generator.render_table_page(page)


def test_generated_validator_needs_only_the_standard_library() -> None:
    tree = ast.parse((FUNCTION_DIR / "input_validator.py").read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported - set(sys.stdlib_module_names) == set()
    assert (FUNCTION_DIR / "requirements.txt").read_text(encoding="utf-8").split("#")[0].strip() == ""


# --- every key's bounds, through the handler's validation ---------------------------------------------------


def _numeric_keys() -> list[str]:
    return [k for k, v in PROPERTIES.items() if v.get("type") in ("integer", "number")]


@pytest.mark.parametrize("key", _numeric_keys())
def test_every_numeric_key_accepts_its_bounds_and_rejects_beyond_naming_the_key(
    contract: ModuleType, key: str
) -> None:
    spec = PROPERTIES[key]
    step = 1 if spec["type"] == "integer" else 0.001
    if "minimum" in spec:
        assert error_of(contract, {key: spec["minimum"]}) is None
        below = spec["minimum"] - step
        assert (
            error_of(contract, {key: below}) == f"{key} must be >= {spec['minimum']}, got {json.dumps(below)}"
        )
    if "maximum" in spec:
        assert error_of(contract, {key: spec["maximum"]}) is None
        above = spec["maximum"] + step
        assert (
            error_of(contract, {key: above}) == f"{key} must be <= {spec['maximum']}, got {json.dumps(above)}"
        )
    if "exclusiveMinimum" in spec:
        bound = spec["exclusiveMinimum"]
        assert error_of(contract, {key: bound}) == f"{key} must be > {bound}, got {bound}"
        assert error_of(contract, {key: bound + step}) is None
    assert {"minimum", "maximum", "exclusiveMinimum"} & set(spec), f"{key} has no bound"
    expected = "a whole number" if spec["type"] == "integer" else "a number"
    for wrong in ("5", True, None, [5]):
        assert error_of(contract, {key: wrong}) == f"{key} must be {expected}, got {json.dumps(wrong)}"
    if spec["type"] == "integer":
        assert error_of(contract, {key: spec.get("minimum", 1) + 0.5}) == (
            f"{key} must be a whole number, got {spec.get('minimum', 1) + 0.5}"
        )


@pytest.mark.parametrize("key", [k for k, v in PROPERTIES.items() if "enum" in v])
def test_every_enum_key_accepts_its_values_only(contract: ModuleType, key: str) -> None:
    allowed = PROPERTIES[key]["enum"]
    for value in allowed:
        assert error_of(contract, {key: value}) is None
    for wrong in ("Grid", allowed[0].upper(), ""):
        assert (
            error_of(contract, {key: wrong})
            == f"{key} must be one of {', '.join(allowed)}, got {json.dumps(wrong)}"
        )
    assert error_of(contract, {key: 3}) == f"{key} must be a string, got 3"


@pytest.mark.parametrize("key", [k for k, v in PROPERTIES.items() if v.get("type") == "boolean"])
def test_every_switch_takes_true_or_false_only(contract: ModuleType, key: str) -> None:
    assert error_of(contract, {key: True}) is None
    assert error_of(contract, {key: False}) is None
    for wrong in ("true", 1, 0, None):
        assert error_of(contract, {key: wrong}) == f"{key} must be true or false, got {json.dumps(wrong)}"


def test_strategy_has_no_grid(contract: ModuleType) -> None:
    assert "Grid" not in PROPERTIES["strategy"]["enum"]
    assert error_of(contract, {"strategy": "Grid"}) is not None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"trainrows": 5}, "unknown key 'trainrows' (did you mean 'trainRows'?) in the execution input"),
        ({"TRAINROWS": 5}, "unknown key 'TRAINROWS' (did you mean 'trainRows'?) in the execution input"),
        (
            {"epochs": 5, "rows": 1},
            "unknown keys 'epochs', 'rows' in the execution input; allowed keys: trainRows",
        ),
        ({"data": {**DATA, "labelColumn": 0}}, "unknown key 'labelColumn' in data; allowed keys: trainUri"),
    ],
)
def test_unknown_keys_are_named_with_the_allowed_keys(contract: ModuleType, value: Any, message: str) -> None:
    error = error_of(contract, value)
    assert error is not None and error.startswith(message)


def test_the_consoles_default_input_runs_the_defaults_its_comment_dropped(contract: ModuleType) -> None:
    console_default = load_event("execution_input_console_default")
    assert console_default == {"Comment": "Insert your JSON here"}

    assert contract.validate_execution_input(console_default) == {}
    assert contract.validate_execution_input({"Comment": "", "trainRows": 500}) == {"trainRows": 500}


@pytest.mark.parametrize("comment", [None, 1, ["a"], {"text": "a"}])
def test_a_comment_must_be_a_string(contract: ModuleType, comment: Any) -> None:
    assert error_of(contract, {"Comment": comment}) == f"Comment must be a string, got {json.dumps(comment)}"


@pytest.mark.parametrize("key", ["comment", "COMMENT", "Comments"])
def test_only_comment_is_ignored_other_unknown_keys_still_fail(contract: ModuleType, key: str) -> None:
    error = error_of(contract, {"Comment": "run", key: "x"})
    assert error is not None
    assert error.startswith(f"unknown key '{key}' (did you mean 'Comment'?) in the execution input")


@pytest.mark.parametrize("key", GENERATED_DATA_KEYS)
def test_data_excludes_every_generated_data_key(contract: ModuleType, key: str) -> None:
    value = {"data": DATA, key: PROPERTIES[key].get("minimum", 1)}

    assert error_of(contract, value) == (
        f"data (your own files) cannot be combined with {key}: those keys describe generated data; "
        "remove them, or remove data to generate a data set"
    )
    assert error_of(contract, {"data": DATA, "maxTrainingJobs": 5, "spot": True}) is None


@pytest.mark.parametrize("missing", list(DATA))
def test_data_needs_all_three_files(contract: ModuleType, missing: str) -> None:
    data = {k: v for k, v in DATA.items() if k != missing}

    assert error_of(contract, {"data": data}) == (
        f"data.{missing} is missing: data needs trainUri, validationUri, testUri"
    )


@pytest.mark.parametrize(
    "uri",
    [
        "s3://example-ml-datasets/",  # a prefix, not an object
        "s3://example-ml-datasets/housing/",
        "s3://Example/train.csv",  # bucket names are lower case
        "s3://ab/train.csv",  # at least 3 characters
        "https://example-ml-datasets.s3.amazonaws.com/train.csv",
        "example-ml-datasets/train.csv",
        "s3://example-ml-datasets",
        "",
    ],
)
def test_data_uris_must_name_one_s3_object(contract: ModuleType, uri: str) -> None:
    error = error_of(contract, {"data": {**DATA, "trainUri": uri}})

    assert error is not None and error.startswith("data.trainUri must be the URI of one S3 object")
    assert json.dumps(uri) in error


def test_parallel_jobs_may_not_exceed_the_jobs(contract: ModuleType) -> None:
    assert error_of(contract, {"maxTrainingJobs": 4, "maxParallelTrainingJobs": 4}) is None
    assert error_of(contract, {"maxTrainingJobs": 3, "maxParallelTrainingJobs": 5}) == (
        "maxParallelTrainingJobs must be <= maxTrainingJobs (3), got 5"
    )


# --- the generated validator agrees with the reference implementation ---------------------------------------


def _battery() -> Iterator[Any]:
    yield from [{}, [], "x", 3, None, {"data": DATA}, {"data": None}, {"data": {}}, {"data": DATA, "seed": 1}]
    for path in sorted(EVENTS_DIR.glob("execution_input_*.json")):
        yield json.loads(path.read_text(encoding="utf-8"))
    for key, spec in PROPERTIES.items():
        for bound in ("minimum", "maximum", "exclusiveMinimum"):
            if bound in spec:
                for delta in (-1, -0.5, 0, 0.5, 1):
                    yield {key: spec[bound] + delta}
        for value in spec.get("enum", []):
            yield {key: value}
            yield {key: value.lower()}
        for value in (True, "1", None, [], {}, 1.0, 10**30):
            yield {key: value}


def test_generated_validator_agrees_with_jsonschema_on_every_example(contract: ModuleType) -> None:
    reference = jsonschema.Draft202012Validator(SCHEMA)
    disagreements = []
    count = 0
    for value in _battery():
        count += 1
        expected = reference.is_valid(value if value is not None else {})
        accepted = error_of(contract, value) is None
        if expected != accepted:
            disagreements.append((value, expected, accepted))
    assert count > 150
    assert disagreements == []


# --- the template: enums and bounds agree -------------------------------------------------------------------


def test_instance_type_enums_are_the_templates_allowed_values(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    for key in ("trainingInstanceType", "transformInstanceType"):
        assert PROPERTIES[key]["enum"] == parameters[TEMPLATE_PARAMETER[key]]["AllowedValues"], key


def test_numeric_bounds_are_the_template_parameters_bounds(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    checked = []
    for key, name in TEMPLATE_PARAMETER.items():
        if "enum" in PROPERTIES[key]:
            continue
        spec = parameters[name]
        assert (PROPERTIES[key]["minimum"], PROPERTIES[key]["maximum"]) == (
            spec["MinValue"],
            spec["MaxValue"],
        ), key
        checked.append(key)
    assert {
        "maxTrainingJobs",
        "maxParallelTrainingJobs",
        "maxTrainingJobsNotImproving",
        "trainingInstanceCount",
    } <= set(checked)


# --- events/ ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "execution_input_default",
        "execution_input_overrides",
        "execution_input_all_overrides",
        "execution_input_own_data",
        "execution_input_console_default",
        "execution_input_warm_start",
    ],
)
def test_example_inputs_are_valid(contract: ModuleType, name: str) -> None:
    assert error_of(contract, load_event(name)) is None


def test_all_overrides_example_sets_every_key_but_data() -> None:
    # warmStart needs an earlier run's tuning job: execution_input_warm_start.json shows it.
    assert set(load_event("execution_input_all_overrides")) == set(PROPERTIES) - {"data", "warmStart"}


def test_invalid_example_is_rejected_naming_the_key(contract: ModuleType) -> None:
    assert error_of(contract, load_event("execution_input_invalid")) == (
        'strategy must be one of Bayesian, Random, Hyperband, got "Grid"'
    )


def test_every_execution_input_example_is_tested() -> None:
    names = {path.stem for path in EVENTS_DIR.glob("execution_input_*.json")}
    assert names == {
        "execution_input_default",
        "execution_input_console_default",
        "execution_input_overrides",
        "execution_input_all_overrides",
        "execution_input_own_data",
        "execution_input_invalid",
        "execution_input_warm_start",
    }
