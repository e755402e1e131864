"""Shared fixtures: fake AWS credentials, moto, the handlers loaded under the mock, events/ files.

Handlers create their boto3 clients at import time, so a test gets a fresh copy of the handler module,
imported after the mock has started (``load_handler("generate_dataset")``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws

from functions import loader
from offline.request_validation import response_errors
from offline.stack_resources import FAKE_AWS_ENV
from offline.template import DEFINITION_FILE as STATE_MACHINE_FILE
from offline.template import ROOT, load_template

FUNCTIONS_DIR = ROOT / "functions"
EVENTS_DIR = ROOT / "events"
# Each function's events, in a folder named after its logical ID: what `sam local invoke <id> -e` takes.
FUNCTION_EVENTS_DIR = EVENTS_DIR / "functions"

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account, also the one in events/
# The bucket the events/ files point at (CloudFormation's <stack>-<logical id>-<random> naming).
BUCKET_NAME = "sagemaker-xgboost-tuning-databucket-q8w3n5z2k7ya"
# The template's STACK_TOKEN: the first group of the stack id's UUID.
JOB_NAME_PREFIX = "51af3dc0"

# Fake credentials and no profile or config file: no client can reach a real account.
_FAKE_AWS_ENV = {**FAKE_AWS_ENV, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}


def load_event(name: str) -> Any:
    """The parsed content of the events/ file of that name, wherever it lies: an execution input
    (``events/<name>``) or a function's event (``events/functions/<logical id>/<name>``); ``.json`` may be
    left off."""
    file_name = name if name.endswith(".json") else f"{name}.json"
    found = sorted(EVENTS_DIR.rglob(file_name))
    if len(found) != 1:
        raise LookupError(f"{len(found)} files named {file_name} under {EVENTS_DIR}: {found}")
    return json.loads(found[0].read_text(encoding="utf-8"))


def create_best_training_job(sagemaker_client: Any, description: dict[str, Any]) -> str:
    """Creates a tuning job description's best training job with ``sagemaker_client`` (moto's, in process or
    behind tests/local_invoke's fake AWS: it completes the job at once); returns its name."""
    definition = description["TrainingJobDefinition"]
    best = description["BestTrainingJob"]
    static = {k: v for k, v in definition["StaticHyperParameters"].items() if not k.startswith("_")}
    sagemaker_client.create_training_job(
        TrainingJobName=best["TrainingJobName"],
        HyperParameters={**static, **best["TunedHyperParameters"]},
        AlgorithmSpecification={
            key: definition["AlgorithmSpecification"][key] for key in ("TrainingImage", "TrainingInputMode")
        },
        RoleArn=definition["RoleArn"],
        InputDataConfig=definition["InputDataConfig"],
        OutputDataConfig=definition["OutputDataConfig"],
        ResourceConfig=definition["ResourceConfig"],
        StoppingCondition=definition["StoppingCondition"],
    )
    return best["TrainingJobName"]


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


@pytest.fixture(autouse=True, scope="session")
def reports_in_a_temporary_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Offline runs in tests (and their subprocesses) write their reports there, not into reports/."""
    with mock.patch.dict(os.environ, {"REPORT_DIR": str(tmp_path_factory.mktemp("reports"))}):
        yield


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
    monkeypatch.setenv("STACK_TOKEN", JOB_NAME_PREFIX)
    return BUCKET_NAME


@pytest.fixture
def load_handler(mocked_aws: None) -> Iterator[Callable[[str], ModuleType]]:
    """Imports ``functions/<name>/app.py`` afresh inside the mock, as the Lambda runtime does."""
    loaded: list[ModuleType] = []

    def load(function: str) -> ModuleType:
        loaded.append(loader.load_handler(function))
        return loaded[-1]

    yield load
    for module in loaded:
        loader.unload(module)


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture(name="load_event")
def load_event_fixture() -> Callable[[str], Any]:
    """``load_event("generate_dataset")``: a fresh copy of an events/ file for each call."""
    return load_event


@pytest.fixture
def api_output_errors() -> Callable[[Any, str, str], list[str]]:
    """``api_output_errors(event, "sagemaker", "CreateModel")``: how a value differs from the operation's
    output as Step Functions passes it on, in SageMaker's words (``offline.request_validation``)."""

    def errors(value: Any, service: str, operation: str) -> list[str]:
        return response_errors(operation, value, service)

    return errors


@pytest.fixture(scope="session")
def state_machine_definition() -> dict[str, Any]:
    """The ASL definition as the repository holds it (substitutions not applied)."""
    return json.loads(STATE_MACHINE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """template.yaml as plain data, intrinsics in their long form ({"Ref": ...})."""
    return load_template()
