"""The run name: a valid tuning job name, unique to the execution, readable."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import naming
import pytest

from tests.conftest import JOB_NAME_PREFIX
from tests.unit import dataset_support as support


@pytest.fixture(autouse=True)
def stack_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token the template sets on the function."""
    monkeypatch.setenv("STACK_TOKEN", JOB_NAME_PREFIX)


def _execution_names() -> Iterator[str]:
    rng = random.Random(20261128)
    for _ in range(200):  # console-started executions: 36-character UUIDs
        yield str(uuid.UUID(int=rng.getrandbits(128), version=4))
    yield from [
        "a" * 80,  # the longest execution name Step Functions accepts
        "A" * 80,
        "x-" * 40,
        "nightly-retrain-2026-11-28T10-00-00Z",
        "Nightly_Retrain.v2",
        "exécution-été-2026",
        "実行-テスト",
        "🚀🚀🚀",
        "İstanbul-ǅemal-ß",
        "---",
        "___",
        "...",
        "-",
        "a",
        "0",
        "abcdefghijklmnopqr-s",  # the slug cut lands on a hyphen
        "abcdefghijklmnopqrs-tuvwxyz",
        "-leading-and-trailing-",
        "a" + "-" * 50 + "b",
    ]


@pytest.mark.parametrize("start", [support.START, "2027-01-01T00:00:00.001Z"])
def test_run_name_is_a_valid_tuning_job_name_for_any_execution_name(
    dataset_app: ModuleType, start: str
) -> None:
    for name in _execution_names():
        execution = naming.Execution(arn=f"{support.STATE_MACHINE}:{name}", name=name, start_time=start)
        run = naming.run_name(execution)

        assert len(run) <= 32, (name, run)
        assert support.TUNING_JOB_NAME.fullmatch(run), (name, run)
        assert support.JOB_NAME.fullmatch(run + support.TRAINING_JOB_SUFFIX), (name, run)
        assert len(run + support.TRAINING_JOB_SUFFIX) <= 63
        # ARNs carry names in lower case: a lower-case name is the one read back from an ARN.
        assert run == run.lower()
        assert naming.run_name(execution) == run
        # The state machine's grants name <token>-*: every job and model name must match it.
        assert run.startswith(f"{JOB_NAME_PREFIX}-"), (name, run)


def test_run_name_keeps_a_readable_part_of_the_execution_name(dataset_app: ModuleType) -> None:
    execution = naming.Execution(
        arn=f"{support.STATE_MACHINE}:Nightly_Retrain", name="Nightly_Retrain", start_time=support.START
    )
    punctuation = naming.Execution(arn=f"{support.STATE_MACHINE}:___", name="___", start_time=support.START)

    assert naming.run_name(execution).startswith(f"{JOB_NAME_PREFIX}-nightly-re-")
    assert naming.run_name(punctuation).startswith(f"{JOB_NAME_PREFIX}-run-")


@pytest.mark.parametrize("token", [None, "", "51AF3DC0", "51af3dc", "51af3dc0-", "../x"])
def test_a_missing_or_malformed_stack_token_is_a_deploy_error(
    dataset_app: ModuleType, monkeypatch: pytest.MonkeyPatch, token: str | None
) -> None:
    if token is None:
        monkeypatch.delenv("STACK_TOKEN")
    else:
        monkeypatch.setenv("STACK_TOKEN", token)
    execution = naming.Execution(arn=f"{support.STATE_MACHINE}:x", name="x", start_time=support.START)

    with pytest.raises(
        naming.ConfigurationError, match=r"STACK_TOKEN .*deploy the function with the template"
    ):
        naming.run_name(execution)


def test_run_names_of_different_executions_differ(dataset_app: ModuleType) -> None:
    names = list(_execution_names())
    runs = [
        naming.run_name(naming.Execution(arn=f"{machine}:{name}", name=name, start_time=start))
        for name in names
        for machine in (support.STATE_MACHINE, support.STATE_MACHINE.replace("AbC123", "XyZ789"))
        for start in (support.START, "2026-11-28T10:00:00.001Z")
    ]

    assert len(set(runs)) == len(runs) == len(names) * 4


def test_execution_name_reused_after_the_first_one_ended_gets_a_new_run_name(dataset_app: ModuleType) -> None:
    """Same state machine, same name, a later start (after the execution history expired)."""
    arn = f"{support.STATE_MACHINE}:weekly"
    first = naming.run_name(naming.Execution(arn=arn, name="weekly", start_time=support.START))
    later = naming.run_name(naming.Execution(arn=arn, name="weekly", start_time="2027-03-01T10:00:00.000Z"))

    assert first != later


def test_two_executions_with_the_same_name_never_share_a_key(
    dataset_app: ModuleType, bucket: str, s3_client: Any
) -> None:
    first = dataset_app.lambda_handler(support.event_for(support.SMALL_INPUT, name="same-name"), None)[
        "dataset"
    ]
    first_keys = support.all_keys(s3_client, bucket)
    other_machine = support.STATE_MACHINE.replace("AbC123", "XyZ789")
    second = dataset_app.lambda_handler(
        support.event_for(support.SMALL_INPUT, name="same-name", state_machine=other_machine), None
    )
    second_keys = support.all_keys(s3_client, bucket) - first_keys

    assert first["runName"] != second["dataset"]["runName"]
    assert len(first_keys) == len(second_keys) == 4
    assert all(key.startswith(f"runs/{first['runName']}/") for key in first_keys)
    assert all(key.startswith(f"runs/{second['dataset']['runName']}/") for key in second_keys)
    for uri_key in ("trainUri", "validationUri", "testUri", "modelOutputUri", "transformOutputUri"):
        assert not second["dataset"][uri_key].startswith(first["prefix"])
        assert not first[uri_key].startswith(second["dataset"]["prefix"])
