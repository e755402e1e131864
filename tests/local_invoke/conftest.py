"""Fixtures of the `sam local invoke` tests: a container engine, the base image, the build, the fake AWS."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import BUCKET_NAME, JOB_NAME_PREFIX, REGION
from tests.local_invoke import harness


@dataclass
class LocalLambda:
    """The built functions, and the fake AWS they reach from their containers."""

    template: Path
    fake: harness.FakeAws
    workdir: Path

    def invoke(self, function: str, event: Path, template: Path | None = None) -> harness.Invocation:
        env_vars = {
            "AWS_ENDPOINT_URL": self.fake.url,
            # What the stack's parameters and resources give the functions that declare these.
            "BUCKET_NAME": BUCKET_NAME,
            "EXTERNAL_DATA_BUCKETS": "",
            "STACK_TOKEN": JOB_NAME_PREFIX,
        }
        return harness.invoke(template or self.template, function, event, env_vars, self.workdir)

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.fake.url)


@pytest.fixture(scope="session")
def container_engine() -> None:
    reason = harness.container_engine_answers()
    if reason is None:
        return
    message = (
        f"sam local invoke not checked ({reason}): the functions were not run in Lambda containers, so their "
        "packaging, handler paths, declared environment and events/functions/ files went untested"
    )
    if os.environ.get(harness.REQUIRED_ENV):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def built_template(container_engine: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    arch = harness.architecture()
    harness.ensure_base_image(arch)
    return harness.sam_build(tmp_path_factory.mktemp("sam-build"), arch)


@pytest.fixture(scope="session")
def fake_aws(container_engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.FakeAws]:
    log = tmp_path_factory.mktemp("moto-server") / "server.log"
    with harness.fake_aws(harness.bridge_gateway(), log) as server:
        yield server


@pytest.fixture
def local_lambda(built_template: Path, fake_aws: harness.FakeAws, tmp_path: Path) -> LocalLambda:
    """Every test starts from an empty fake account."""
    fake_aws.reset()
    return LocalLambda(built_template, fake_aws, tmp_path)
