"""SageMaker request validation: botocore's input shapes, with the constraints botocore leaves to the service.

botocore's ``ParamValidator`` checks types, required and unknown keys and minimums. SageMaker itself also
enforces each member's ``max`` (string and list lengths, numbers), ``pattern`` (matched against the whole
value) and enum, and answers with a ``ValidationException`` whose message names the member in camelCase:

    1 validation error detected: Value 'x...' at 'hyperParameterTuningJobName' failed to satisfy
    constraint: Member must have length less than or equal to 32

This module produces that message, so a request AWS would reject fails offline with the same words.

``response_errors`` applies the same checks to an operation's output as Step Functions hands it to the
next state (a ``.sync`` task's Describe* result, CreateModel's ``{"ModelArn": ...}``): unknown and missing
keys, types, lengths, ranges, patterns and enums, and timestamps as Step Functions writes them, in epoch
milliseconds.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from typing import Any

import botocore.session
import regex
from botocore.exceptions import ClientError
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator

logger = logging.getLogger(__name__)

SERVICE = "sagemaker"

# botocore's report lines for the errors it finds that SageMaker words differently (or that the walk below
# reports itself, in SageMaker's words: minimums).
_MISSING = re.compile(r'^Missing required parameter in (?P<parent>.*): "(?P<name>[^"]+)"$')
_MINIMUM = re.compile(r"^Invalid (length|value) for parameter .*, valid min (length|value): ")


# Step Functions writes SDK timestamps as epoch milliseconds; seconds would be 1000 times smaller.
_EPOCH_MILLISECONDS = (1e12, 1e13)  # 2001 to 2286


@functools.cache
def service_model(service: str = SERVICE) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def operation_model(operation_name: str, service: str = SERVICE) -> OperationModel:
    return service_model(service).operation_model(operation_name)


def client_error(operation_name: str, code: str, message: str, status: int = 400) -> ClientError:
    """The exception a boto3 client raises for a service error."""
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation_name)


def validation_exception(operation_name: str, message: str) -> ClientError:
    return client_error(operation_name, "ValidationException", message)


def validation_message(errors: list[str]) -> str:
    """SageMaker's summary line: ``N validation error(s) detected: a; b``."""
    noun = "error" if len(errors) == 1 else "errors"
    return f"{len(errors)} validation {noun} detected: " + "; ".join(errors)


def validate_request(operation_name: str, params: dict[str, Any]) -> None:
    """Raises a ``ValidationException`` ClientError if ``params`` break the operation's input shape."""
    errors = request_errors(operation_name, params)
    if errors:
        raise validation_exception(operation_name, validation_message(errors))


def request_errors(operation_name: str, params: Any, service: str = SERVICE) -> list[str]:
    """Everything wrong with ``params`` as the input of the operation, in SageMaker's words."""
    return _shape_errors(params, operation_model(operation_name, service).input_shape, ParamValidator())


def response_errors(operation_name: str, response: Any, service: str = SERVICE) -> list[str]:
    """Everything wrong with ``response`` as the operation's output once Step Functions passed it on."""
    return _shape_errors(
        response, operation_model(operation_name, service).output_shape, _StepFunctionsOutput()
    )


class _StepFunctionsOutput(ParamValidator):
    """botocore's checks for an SDK response as JSON from Step Functions: timestamps are epoch
    milliseconds, and a JSON boolean is no integer (Python's ``bool`` is an ``int``)."""

    def _validate_timestamp(self, param: Any, shape: Shape, errors: Any, name: str) -> None:
        low, high = _EPOCH_MILLISECONDS
        if isinstance(param, bool) or not isinstance(param, (int, float)) or not low <= param < high:
            errors.report(
                name, "invalid type", param=param, valid_types=["epoch milliseconds (2001 to 2286)"]
            )

    def _validate_integer(self, param: Any, shape: Shape, errors: Any, name: str) -> None:
        if isinstance(param, bool):
            errors.report(name, "invalid type", param=param, valid_types=[str(int)])
        else:
            super()._validate_integer(param, shape, errors, name)

    # botocore checks a long exactly as an integer.
    _validate_long = _validate_integer


def _shape_errors(value: Any, shape: Shape, validator: ParamValidator) -> list[str]:
    """botocore's report (types, required and unknown keys) and the constraints botocore leaves out."""
    errors: list[str] = []
    report = validator.validate(value, shape)
    if report.has_errors():
        for line in report.generate_report().splitlines():
            missing = _MISSING.match(line)
            if missing:
                parent = "" if missing["parent"] == "input" else missing["parent"]
                path = member_path(f"{parent}.{missing['name']}" if parent else missing["name"])
                errors.append(f"Value null at '{path}' failed to satisfy constraint: Member must not be null")
            elif not _MINIMUM.match(line):
                errors.append(line)
    errors.extend(constraint_errors(value, shape))
    return errors


def member_path(botocore_name: str) -> str:
    """A botocore parameter name in SageMaker's form.

    ``TrainingJobDefinition.InputDataConfig[0].ChannelName`` ->
    ``trainingJobDefinition.inputDataConfig.1.member.channelName``
    """
    parts: list[str] = []
    for part in botocore_name.split("."):
        name, _, rest = part.partition("[")
        parts.append(_camel(name))
        for index in re.findall(r"(\d+)\]", "[" + rest if rest else ""):
            parts.append(f"{int(index) + 1}.member")
    return ".".join(parts)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def constraint_errors(value: Any, shape: Shape, path: str = "") -> list[str]:
    """Every ``min``/``max``/``pattern``/enum violation in ``value``, in SageMaker's words.

    Values of the wrong type are skipped: ParamValidator reports those.
    """
    errors: list[str] = []
    _walk(value, shape, path, errors)
    return errors


def _walk(value: Any, shape: Shape, path: str, errors: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return
        for key, member in shape.members.items():
            if key in value and value[key] is not None:
                _walk(value[key], member, f"{path}.{_camel(key)}" if path else _camel(key), errors)
    elif kind == "list":
        if not isinstance(value, list):
            return
        _check(value, shape, path, errors)
        for index, item in enumerate(value):
            _walk(item, shape.member, f"{path}.{index + 1}.member", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            return
        _check(value, shape, path, errors)
        # SageMaker reports a bad map key or value once for the map, listing the constraints it broke.
        for label, part_shape, parts in (
            ("key", shape.key, value.keys()),
            ("value", shape.value, value.values()),
        ):
            broken = _map_part_errors(parts, part_shape)
            if broken:
                errors.append(
                    f"Value {_render(value)} at '{path}' failed to satisfy constraint: "
                    f"Map {label} must satisfy constraint: [{', '.join(broken)}]"
                )
    else:
        _check(value, shape, path, errors)


def _map_part_errors(parts: Iterable[Any], shape: Shape) -> list[str]:
    broken: list[str] = []
    for part in parts:
        for reason in _violations(part, shape):
            if reason not in broken:
                broken.append(reason)
    return broken


def _check(value: Any, shape: Shape, path: str, errors: list[str]) -> None:
    errors.extend(
        f"Value {_render(value)} at '{path}' failed to satisfy constraint: {reason}"
        for reason in _violations(value, shape)
    )


def _violations(value: Any, shape: Shape) -> list[str]:
    meta = shape.metadata
    reasons: list[str] = []
    kind = shape.type_name
    if kind in ("string", "list", "map", "blob"):
        if not isinstance(value, (str, list, dict, bytes)):
            return reasons
        size = len(value)
        if "max" in meta and size > meta["max"]:
            reasons.append(f"Member must have length less than or equal to {meta['max']}")
        if "min" in meta and size < meta["min"]:
            reasons.append(f"Member must have length greater than or equal to {meta['min']}")
        if kind == "string" and isinstance(value, str):
            enum = getattr(shape, "enum", None)
            if enum and value not in enum:
                reasons.append(f"Member must satisfy enum value set: [{', '.join(enum)}]")
            pattern = meta.get("pattern")
            if pattern is not None:
                compiled = _pattern(pattern)
                if compiled is not None and compiled.fullmatch(value) is None:
                    reasons.append(f"Member must satisfy regular expression pattern: {pattern}")
    elif kind in ("integer", "long", "float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return reasons
        if "max" in meta and value > meta["max"]:
            reasons.append(f"Member must have value less than or equal to {meta['max']}")
        if "min" in meta and value < meta["min"]:
            reasons.append(f"Member must have value greater than or equal to {meta['min']}")
    return reasons


@functools.cache
def _pattern(pattern: str) -> regex.Pattern[str] | None:
    # The patterns are Java regular expressions; the `regex` module reads their \p{L} classes. The few it
    # cannot compile (UTF-16 surrogate ranges of Glue names) belong to no operation this emulator serves.
    try:
        return regex.compile(pattern)
    except regex.error:
        logger.debug("pattern %r not checked: it does not compile in Python", pattern)
        return None


def _render(value: Any) -> str:
    """A value as the service's messages show it (Java's toString, quoted)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "'true'" if value else "'false'"
    if isinstance(value, (int, float)):
        return str(value)
    return f"'{_java_string(value)}'"


def _java_string(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_java_string(k)}={_java_string(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_java_string(v) for v in value) + "]"
    return str(value)
