"""Fixtures of the static tests: the template, the definition and simulated runs, per region."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.static.support import (
    CONSOLE_EXECUTION_NAME,
    REGIONS,
    ROOT,
    Resolver,
    Run,
    Simulator,
    definition_text,
    load_event,
    load_template,
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
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="session")
def asl_text() -> str:
    """The definition file's text, placeholders and all."""
    return definition_text()


@pytest.fixture(scope="session")
def asl(asl_text: str) -> dict[str, Any]:
    return json.loads(asl_text)


@pytest.fixture(scope="session", params=REGIONS)
def resolver(request: pytest.FixtureRequest, template: dict[str, Any]) -> Resolver:
    """The template deployed with its defaults, in each region of REGIONS."""
    return Resolver(template, request.param)


@pytest.fixture(scope="session")
def us_resolver(template: dict[str, Any]) -> Resolver:
    return Resolver(template, "us-east-1")


@pytest.fixture(scope="session")
def console_run(resolver: Resolver) -> Run:
    """An execution started from the console: input ``{}``, a UUID as its name."""
    return Simulator(resolver).run(load_event("execution_input_default"), CONSOLE_EXECUTION_NAME)


@pytest.fixture(scope="session")
def us_console_run(us_resolver: Resolver) -> Run:
    """The console execution in us-east-1, for checks that do not depend on the region."""
    return Simulator(us_resolver).run(load_event("execution_input_default"), CONSOLE_EXECUTION_NAME)
