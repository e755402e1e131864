"""Fixtures of the static tests: the template deployed per region, and executions recorded on the engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from offline.template import DEFINITION_FILE, ROOT, Stack
from tests.static.support import (
    ANOTHER_CONSOLE_EXECUTION_NAME,
    CONSOLE_EXECUTION_NAME,
    FEW_JOBS,
    REGIONS,
    UNUSUAL_EXECUTION_NAMES,
    US_EAST_1,
    Run,
    record_runs,
)

TOOL_REGION = "us-east-1"


def tool(name: str) -> str:
    """A command-line tool of the project's virtual environment (the one running the tests)."""
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is not installed next to {sys.executable}: run make venv"
    return str(path)


def tool_env() -> dict[str, str]:
    """The environment for sam and cfn-lint: a region, no telemetry, and no AWS credentials at all."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        AWS_DEFAULT_REGION=TOOL_REGION,
        AWS_REGION=TOOL_REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        SAM_CLI_TELEMETRY="0",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def run_tool(args: list[str], *, timeout: float = 120, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="session")
def asl_text() -> str:
    """The definition file's text, placeholders and all."""
    return DEFINITION_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="session", params=REGIONS)
def stack(request: pytest.FixtureRequest, template: dict[str, Any]) -> Stack:
    """The template deployed with its defaults, in each region of REGIONS."""
    return Stack(template, request.param)


@pytest.fixture(scope="session")
def us_stack(template: dict[str, Any]) -> Stack:
    return Stack(template, US_EAST_1)


def _executions_in(region: str) -> dict[str, Run]:
    """The executions recorded in ``region``: a console-started one everywhere, more names in us-east-1."""
    names = [CONSOLE_EXECUTION_NAME]
    if region == US_EAST_1:
        names += [ANOTHER_CONSOLE_EXECUTION_NAME, *UNUSUAL_EXECUTION_NAMES]
    return record_runs(region, FEW_JOBS, names)


@pytest.fixture(scope="session")
def console_run(stack: Stack) -> Run:
    """An execution named as the console names it (a UUID), on small data, in each region."""
    return _executions_in(stack.region)[CONSOLE_EXECUTION_NAME]


@pytest.fixture(scope="session")
def us_executions() -> dict[str, Run]:
    """Executions of one us-east-1 stack, by name: the console's, another console's, unusual names."""
    return _executions_in(US_EAST_1)


@pytest.fixture(scope="session")
def hyperband_spot_run() -> Run:
    """A us-east-1 execution with the Hyperband strategy, on spot."""
    (run,) = record_runs(
        US_EAST_1,
        FEW_JOBS,
        [CONSOLE_EXECUTION_NAME],
        extra_input={"strategy": "Hyperband", "spot": True},
    ).values()
    return run


@pytest.fixture(scope="session")
def us_console_run(us_executions: dict[str, Run]) -> Run:
    """The console execution in us-east-1, for checks that do not depend on the region."""
    return us_executions[CONSOLE_EXECUTION_NAME]
