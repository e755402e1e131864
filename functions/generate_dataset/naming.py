"""The run's name, from the execution: every job name and S3 prefix of the run derives from it."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from execution_input import InvalidExecutionInput
from run_config import ConfigurationError

RUNS_PREFIX = "runs"
MAX_TUNING_JOB_NAME = 32  # HyperParameterTuningJobName limit; training job names add 13 characters.
# The stack's token (the template sets it: the first 8 hex digits of the stack id). Every job and model name
# starts with it, so the state machine's grants name <token>-* instead of every job in the account.
NAME_PREFIX_ENV = "STACK_TOKEN"
NAME_PREFIX_PATTERN = re.compile(r"[0-9a-f]{8}")
RUN_PREFIX = re.compile(rf"{RUNS_PREFIX}/[a-z0-9](-?[a-z0-9])*/")


@dataclass(frozen=True)
class Execution:
    arn: str
    name: str
    start_time: str


def parse_execution(execution: Any) -> Execution:
    if not isinstance(execution, Mapping):
        raise InvalidExecutionInput(
            "the event's 'execution' must be an object with id, name and startTime "
            "(the state machine passes $$.Execution)"
        )
    fields = {}
    for key in ("id", "name", "startTime"):
        value = execution.get(key)
        if not isinstance(value, str) or not value:
            raise InvalidExecutionInput(f"the event's execution.{key} must be a non-empty string")
        fields[key] = value
    return Execution(arn=fields["id"], name=fields["name"], start_time=fields["startTime"])


def stack_token() -> str:
    """The stack's token from the function's environment; a missing or malformed one is a deploy error."""
    token = os.environ.get(NAME_PREFIX_ENV, "")
    if not NAME_PREFIX_PATTERN.fullmatch(token):
        raise ConfigurationError(
            f"{NAME_PREFIX_ENV} is {token!r}, not 8 lower-case hex digits: deploy the function with the "
            "template, which derives it from the stack id"
        )
    return token


def run_name(execution: Execution, token: str | None = None) -> str:
    """A name unique to the execution, valid as a tuning job name (32 characters at most).

    The stack's token (default: ``stack_token()``), a readable slug of the execution name, and a hash of
    the execution ARN and start time: ARNs are unique per state machine, and the start time keeps a name
    reused months later from colliding with jobs SageMaker still remembers. Lower case, because SageMaker
    ARNs carry names in lower case.
    """
    token = stack_token() if token is None else token
    digest = hashlib.sha256(f"{execution.arn}|{execution.start_time}".encode()).hexdigest()[:12]
    slug = re.sub(r"[^a-z0-9]+", "-", execution.name.lower()).strip("-")
    slug = slug[: MAX_TUNING_JOB_NAME - len(token) - len(digest) - 2].strip("-")
    return f"{token}-{slug}-{digest}" if slug else f"{token}-run-{digest}"


def run_prefix(name: str) -> str:
    """The key prefix under which the run keeps every object, ending in "/"."""
    return f"{RUNS_PREFIX}/{name}/"
