"""The execution input contract: schema/execution-input.schema.json, checked by the validator made from it.

``input_validator`` is generated from the schema at build time (``make schema``; a test keeps it in sync),
so the function needs no JSON Schema library at run time. This module turns the validator's first error into
a message that names the key, the rule and the value, e.g. ``trainRows must be <= 100000000, got 1e+12`` or
``unknown key 'trainrows' in the execution input (did you mean 'trainRows'?)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

ROOT_NAME = "input"  # the validator's name for the whole input; stripped from key paths
# The keys that size generated data: ``data`` (your own files) excludes them.
GENERATED_DATA_KEYS = ("trainRows", "validationRows", "testRows", "noise", "seed")
# Accepted and dropped, as ASL treats a Comment: the console's Start execution dialog sends
# {"Comment": "Insert your JSON here"} by default, and that input must run the default workflow.
IGNORED_KEYS = ("Comment",)
_TYPE_NAMES = {
    "integer": "a whole number",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a JSON object",
    "array": "a list",
}


class InvalidExecutionInput(ValueError):
    """The execution input (or the event the state machine built from it) is not usable."""


def validate_execution_input(execution_input: Any) -> dict[str, Any]:
    """The input as a dict without the ignored ``Comment`` if it follows the schema (absent or null: ``{}``),
    else InvalidExecutionInput."""
    if execution_input is None:
        execution_input = {}
    if isinstance(execution_input, Mapping) and not isinstance(execution_input, dict):
        execution_input = dict(execution_input)
    if isinstance(execution_input, dict):
        # JSON has no NaN, but a direct call may pass one, and NaN passes every minimum and maximum.
        for key, value in execution_input.items():
            if isinstance(value, float) and math.isnan(value):
                raise InvalidExecutionInput(f"{key} must be a finite number, got NaN")
    # Imported here, not at the module's import: the generated module is large (about 11 ms to compile in a
    # deployment package without bytecode) and the Map's shard invocations never validate an input.
    import input_validator

    try:
        input_validator.validate_urn_sagemaker_xgboost_tuning_execution_input(
            execution_input, name_prefix=ROOT_NAME
        )
    except input_validator.JsonSchemaValueException as e:
        raise InvalidExecutionInput(describe(e)) from None
    # The one rule a JSON Schema cannot state: a bound that is another key's value.
    jobs, parallel = execution_input.get("maxTrainingJobs"), execution_input.get("maxParallelTrainingJobs")
    if jobs is not None and parallel is not None and parallel > jobs:
        raise InvalidExecutionInput(
            f"maxParallelTrainingJobs must be <= maxTrainingJobs ({_show(jobs)}), got {_show(parallel)}"
        )
    # Infinity (no JSON either) passes a bound the schema leaves open: maxTestRmse would switch the gate off.
    for key, value in execution_input.items():
        if isinstance(value, float) and math.isinf(value):
            raise InvalidExecutionInput(f"{key} must be a finite number, got {value}")
    return {key: value for key, value in execution_input.items() if key not in IGNORED_KEYS}


def _show(value: Any, limit: int = 80) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _key_path(name: str | None) -> str:
    name = name or ROOT_NAME
    return name[len(ROOT_NAME) + 1 :] if name.startswith(ROOT_NAME + ".") else ""


def _where(path: str) -> str:
    return path if path else "the execution input"


# The numeric bounds the schema uses, as a message states them.
_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">"}


def describe(error: Any) -> str:
    """A message naming the key path, what the schema wants and what was given."""
    path = _key_path(error.name)
    where = _where(path)
    rule = error.rule
    expected = error.rule_definition
    definition = error.definition if isinstance(error.definition, Mapping) else {}
    value = error.value
    if rule == "type" and not path:
        return f"the execution input must be a JSON object, got {type(value).__name__}"
    if rule == "type":
        return f"{where} must be {_TYPE_NAMES.get(str(expected), expected)}, got {_show(value)}"
    if rule in _BOUNDS:
        return f"{where} must be {_BOUNDS[rule]} {expected}, got {_show(value)}"
    if rule == "enum":
        return f"{where} must be one of {', '.join(map(str, expected))}, got {_show(value)}"
    if rule == "additionalProperties" and isinstance(value, Mapping):
        allowed = list((definition.get("properties") or {}).keys())
        unknown = sorted(str(key) for key in value if key not in allowed)
        return _unknown_keys(where, unknown, allowed)
    if rule == "required" and isinstance(value, Mapping):
        required = list(definition.get("required") or [])
        missing = [key for key in required if key not in value]
        names = ", ".join(f"{path}.{key}" if path else key for key in missing)
        verb = "is" if len(missing) == 1 else "are"
        return f"{names} {verb} missing: {where} needs {', '.join(required)}"
    if rule == "pattern" and "Uri" in path:
        return (
            f"{where} must be the URI of one S3 object, s3://<bucket>/<key> (bucket name in lower case, key "
            f"not ending in /), got {_show(value)}"
        )
    if rule == "pattern" and path.startswith("warmStart.parents"):
        return (
            f"{where} must be a tuning job name (letters, digits and single or repeated hyphens inside, "
            f'at most 32 characters) or "previous", got {_show(value)}'
        )
    if rule == "minItems":
        return f"{where} must list at least {expected}, got none"
    if rule == "maxItems":
        return f"{where} must list at most {expected} (SageMaker's limit of parents), got {len(value)}"
    if rule == "uniqueItems":
        return f"{where} must not name a job twice, got {_show(value)}"
    if rule == "maxLength":
        return f"{where} must be at most {expected} characters long, got {len(str(value))}"
    if rule == "not" and not path and isinstance(value, Mapping):
        combined = [key for key in GENERATED_DATA_KEYS if key in value]
        return (
            f"data (your own files) cannot be combined with {', '.join(combined)}: those keys describe "
            "generated data; remove them, or remove data to generate a data set"
        )
    return error.message.replace(f"{ROOT_NAME}.", "", 1) if path else error.message


def _unknown_keys(where: str, unknown: list[str], allowed: list[str]) -> str:
    import difflib

    described = []
    for key in unknown:
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.75) or [
            name for name in allowed if name.lower() == key.lower()
        ]
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        described.append(f"'{_show(key, 60)[1:-1]}'{hint}")
    noun = "key" if len(unknown) == 1 else "keys"
    return f"unknown {noun} {', '.join(described)} in {where}; allowed keys: {', '.join(allowed)}"
