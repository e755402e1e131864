"""Extract Model Name: the model's name from CreateModel's output ``{"ModelArn": ...}``.

SageMaker ARNs carry the name in lower case; the names this application creates are lower case, so the
name read back is the one the model was created with.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

# Used with fullmatch: "$" would accept a trailing newline. The name pattern does not bound runs of hyphens,
# so the length is checked separately. re.ASCII: without it \d also matches non-ASCII digits (U+0660...).
_MODEL_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):sagemaker:(?P<region>[a-z]{2}(-[a-z]+)+-\d+):(?P<account>\d{12}):"
    r"model/(?P<name>[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})",
    re.ASCII,
)
MAX_MODEL_NAME = 63


class InvalidModelArn(ValueError):
    """The event does not hold a SageMaker model ARN."""


def model_name(model_arn: str) -> str:
    match = _MODEL_ARN.fullmatch(model_arn)
    if not match or len(match["name"]) > MAX_MODEL_NAME:
        raise InvalidModelArn(
            f"not a SageMaker model ARN: {model_arn[:200]!r}; expected "
            "arn:<partition>:sagemaker:<region>:<account>:model/<name>, "
            f"the name at most {MAX_MODEL_NAME} characters"
        )
    return match["name"]


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Event: CreateModel's output, ``{"ModelArn": "arn:aws:sagemaker:...:model/<name>"}``."""
    if not isinstance(event, Mapping):
        raise InvalidModelArn(
            f"the event must be CreateModel's output (an object), got {type(event).__name__}"
        )
    arn = event.get("ModelArn")
    if not isinstance(arn, str):
        raise InvalidModelArn(f"the event's ModelArn must be a string, got {type(arn).__name__}")
    name = model_name(arn)
    logger.info("model name", extra={"modelName": name, "modelArn": arn})
    return {"modelName": name, "modelArn": arn}
