"""Shared fixtures: fake AWS credentials, moto, the handlers loaded under the mock, events/ files.

Handlers create their boto3 clients at import time, so a test gets a fresh copy of the handler module,
imported after the mock has started (``load_handler("generate_dataset")``).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.model import Shape
from cfnlint.decode import cfn_yaml
from moto import mock_aws

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
EVENTS_DIR = ROOT / "events"
STATE_MACHINE_FILE = ROOT / "statemachine" / "tuning.asl.json"
TEMPLATE_FILE = ROOT / "template.yaml"

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account, also the one in events/
# The bucket the events/ files point at (CloudFormation's <stack>-<logical id>-<random> naming).
BUCKET_NAME = "sagemaker-xgboost-tuning-databucket-q8w3n5z2k7ya"

_FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    # No profile or config file of the machine may point a client at a real account.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}

_module_ids = itertools.count()


def load_event(name: str) -> Any:
    """The parsed content of ``events/<name>`` (``.json`` may be left off)."""
    path = EVENTS_DIR / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text(encoding="utf-8"))


def api_output_errors(value: Any, service: str, operation: str) -> list[str]:
    """What is wrong with ``value`` as ``service``'s ``operation`` output, as Step Functions returns it.

    Checks unknown and missing keys, types, enum values, lengths, ranges and patterns (botocore's own
    validator skips the last four), and timestamps as Step Functions writes them: epoch milliseconds.
    """
    model = botocore.session.get_session().get_service_model(service)
    errors: list[str] = []
    _check_shape(value, model.operation_model(operation).output_shape, "$", errors)
    return errors


def _check_shape(value: Any, shape: Shape, path: str, errors: list[str]) -> None:
    kind, meta = shape.type_name, shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object, got {type(value).__name__}")
            return
        errors.extend(f"{path}.{key}: unknown key" for key in value if key not in shape.members)
        missing = [key for key in shape.required_members if key not in value]
        errors.extend(f"{path}.{key}: required key missing" for key in missing)
        for key, member in shape.members.items():
            if key in value:
                _check_shape(value[key], member, f"{path}.{key}", errors)
    elif kind == "list":
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for index, item in enumerate(value):
            _check_shape(item, shape.member, f"{path}[{index}]", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object, got {type(value).__name__}")
            return
        for key, item in value.items():
            _check_shape(key, shape.key, f"{path} key {key!r}", errors)
            _check_shape(item, shape.value, f"{path}.{key}", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"{path}: expected a string, got {type(value).__name__}")
            return
        if shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} is not one of {shape.enum}")
        if not meta.get("min", 0) <= len(value) <= meta.get("max", len(value)):
            errors.append(f"{path}: length {len(value)} outside {meta.get('min', 0)}..{meta.get('max')}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"].removeprefix("^").removesuffix("$"), value):
            errors.append(f"{path}: {value!r} does not match {meta['pattern']}")
    elif kind in ("integer", "long", "float", "double"):
        types = (int,) if kind in ("integer", "long") else (int, float)
        if isinstance(value, bool) or not isinstance(value, types):
            errors.append(f"{path}: expected {kind}, got {type(value).__name__}")
        elif not meta.get("min", value) <= value <= meta.get("max", value):
            errors.append(f"{path}: {value} outside {meta.get('min')}..{meta.get('max')}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected a boolean, got {type(value).__name__}")
    elif kind == "timestamp":
        # Step Functions turns SDK dates into epoch milliseconds (seconds would be 1000 times smaller).
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1e12 <= value < 1e13:
            errors.append(f"{path}: expected epoch milliseconds (2001 to 2286), got {value!r}")
    else:  # blob and the like do not occur in these outputs
        errors.append(f"{path}: unchecked shape type {kind}")


_FUNCTION_NAME = "sagemaker-xgboost-tuning-GenerateDatasetFunction-Ab12Cd34Ef56"


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str = _FUNCTION_NAME
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{_FUNCTION_NAME}"
    aws_request_id: str = "6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e"
    log_group_name: str = f"/aws/lambda/{_FUNCTION_NAME}"
    log_stream_name: str = "2026/11/28/[$LATEST]0123456789abcdef0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@pytest.fixture(autouse=True)
def aws_credentials(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a fixed region for every test, so no client can reach a real account.

    Tests marked ``integration`` run against a deployed stack and keep the real environment.
    """
    if request.node.get_closest_marker("integration"):
        return
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for key, value in _FAKE_AWS_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def mocked_aws(aws_credentials: None) -> Iterator[None]:
    """Every AWS call inside the test goes to moto."""
    with mock_aws():
        yield


@pytest.fixture
def s3_client(mocked_aws: None) -> Any:
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def sagemaker_client(mocked_aws: None) -> Any:
    return boto3.client("sagemaker", region_name=REGION)


@pytest.fixture
def bucket(s3_client: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The data bucket, created in moto and set as BUCKET_NAME as the template sets it."""
    s3_client.create_bucket(Bucket=BUCKET_NAME)
    monkeypatch.setenv("BUCKET_NAME", BUCKET_NAME)
    return BUCKET_NAME


@pytest.fixture
def load_handler(mocked_aws: None) -> Iterator[Callable[[str], ModuleType]]:
    """Imports ``functions/<name>/app.py`` afresh, under a unique module name, inside the mock."""
    loaded: list[str] = []

    def load(function: str) -> ModuleType:
        path = FUNCTIONS_DIR / function / "app.py"
        module_name = f"_handler_{function}_{next(_module_ids)}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None, path
        module = importlib.util.module_from_spec(spec)
        # dataclasses look their module up in sys.modules while the class is being created.
        sys.modules[module_name] = module
        loaded.append(module_name)
        spec.loader.exec_module(module)
        return module

    yield load
    for module_name in loaded:
        sys.modules.pop(module_name, None)


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture(name="load_event")
def load_event_fixture() -> Callable[[str], Any]:
    """``load_event("generate_dataset")``: a fresh copy of an events/ file for each call."""
    return load_event


@pytest.fixture(name="api_output_errors")
def api_output_errors_fixture() -> Callable[[Any, str, str], list[str]]:
    """``api_output_errors(event, "sagemaker", "CreateModel")``: how an event differs from the real shape."""
    return api_output_errors


@pytest.fixture(scope="session")
def state_machine_definition() -> dict[str, Any]:
    """The ASL definition as the repository holds it (substitutions not applied)."""
    return json.loads(STATE_MACHINE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """template.yaml, parsed with cfn-lint's loader (intrinsics such as !Ref become {"Ref": ...})."""
    return cfn_yaml.load(str(TEMPLATE_FILE))
