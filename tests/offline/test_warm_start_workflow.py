"""Warm start, end to end offline: a second run warm-started from the first ("previous") or from several
named runs goes through the warm-started tuning state, sends WarmStartConfig, and its search starts from the
parents' evaluated configurations; bad parents end the run at its start, in Invalid Execution Input, with
WarmStartParentInvalid naming them."""

from __future__ import annotations

import copy
import json
from typing import Any

import optuna
import pytest

from offline.emulator import tuning as tuning_module
from offline.engine import Engine
from offline.request_validation import request_errors
from tests.offline.conftest import SMALL_INPUT
from tests.offline.workflow_support import HAPPY_PATH, TUNING

WARM_TUNING = "HyperparameterTuning (XGBoost, warm start)"
WARM_PATH = [WARM_TUNING if state == TUNING else state for state in HAPPY_PATH]


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch) -> list[list[optuna.trial.FrozenTrial]]:
    """The trials each tuning job was seeded with, in the order the jobs were created."""
    calls: list[list[optuna.trial.FrozenTrial]] = []
    seed_trials = tuning_module.seed_trials

    def recording(*args: Any) -> list[optuna.trial.FrozenTrial]:
        calls.append(seed_trials(*args))
        return calls[-1]

    monkeypatch.setattr(tuning_module, "seed_trials", recording)
    return calls


def tuning_requests(engine: Engine) -> list[dict[str, Any]]:
    return [r.parameters for r in engine.sagemaker_requests if r.operation == "CreateHyperParameterTuningJob"]


def cold_run(engine: Engine) -> str:
    result = engine.run(SMALL_INPUT)
    assert result.status == "SUCCEEDED", result.cause
    return result.output["dataset"]["tuningJobName"]


def refused(engine: Engine, warm_start: dict[str, Any]) -> str:
    """The message of the run's WarmStartParentInvalid (or InvalidExecutionInput) at the first state."""
    runs_before = engine.list_s3(f"s3://{engine.bucket}/runs/")
    result = engine.run({**SMALL_INPUT, "warmStart": warm_start})
    assert result.status == "FAILED"
    assert result.states_entered() == ["Generate Training Dataset", "Invalid Execution Input"]
    cause = json.loads(result.cause)
    assert cause["errorType"] == result.error
    # Refused before any data was written.
    assert engine.list_s3(f"s3://{engine.bucket}/runs/") == runs_before
    return f"{result.error}: {cause['errorMessage']}"


def test_a_run_warm_started_from_the_previous_one_seeds_its_search_with_it(
    engine: Engine, seeded: list[list[optuna.trial.FrozenTrial]]
) -> None:
    parent = cold_run(engine)

    result = engine.run({**SMALL_INPUT, "warmStart": {"parents": ["previous"]}})

    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == WARM_PATH
    cold, warm = tuning_requests(engine)
    assert warm["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent}],
        "WarmStartType": "TransferLearning",
    }
    assert request_errors("CreateHyperParameterTuningJob", warm) == []
    # Apart from its name, its tags and WarmStartConfig, the request is the cold run's.
    strip = ("HyperParameterTuningJobName", "Tags", "WarmStartConfig", "TrainingJobDefinition")
    assert {k: v for k, v in warm.items() if k not in strip} == {
        k: v for k, v in cold.items() if k not in strip
    }
    assert result.output["config"]["warmStart"] == warm["WarmStartConfig"]
    # The cold run started from nothing; the warm one from the parent's completed training jobs.
    assert seeded[0] == []
    described = engine.sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=parent)
    assert 0 < len(seeded[1]) <= described["TrainingJobStatusCounters"]["Completed"]


def test_a_run_warm_started_from_several_named_runs_sends_them_all(
    engine: Engine, seeded: list[list[optuna.trial.FrozenTrial]]
) -> None:
    parents = [cold_run(engine), cold_run(engine)]

    result = engine.run(
        {**SMALL_INPUT, "warmStart": {"parents": parents, "type": "IdenticalDataAndAlgorithm"}}
    )

    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == WARM_PATH
    warm = tuning_requests(engine)[-1]
    assert warm["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": name} for name in parents],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    assert len(seeded[-1]) > max(len(seeded[0]), len(seeded[1]))


def test_previous_before_any_run_is_refused_at_the_start(engine: Engine) -> None:
    message = refused(engine, {"parents": ["previous"]})

    assert message.startswith("WarmStartParentInvalid: ")
    assert "no Completed tuning job yet" in message
    assert tuning_requests(engine) == []


def test_an_unknown_parent_is_refused_naming_it(engine: Engine) -> None:
    token = cold_run(engine).split("-", 1)[0]

    message = refused(engine, {"parents": [f"{token}-never-ran-1"]})

    assert message == (
        f"WarmStartParentInvalid: warmStart.parents cannot be used: {token}-never-ran-1 does not exist"
    )
    assert len(tuning_requests(engine)) == 1


def test_a_parent_tuned_for_another_metric_is_refused_naming_it(engine: Engine) -> None:
    first = cold_run(engine)
    other = copy.deepcopy(tuning_requests(engine)[0])
    other["HyperParameterTuningJobName"] = first[:-4] + "mae1"
    other["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] = (
        "validation:mae"
    )
    engine.sagemaker.create_hyper_parameter_tuning_job(**other)

    message = refused(engine, {"parents": [first, other["HyperParameterTuningJobName"]]})

    assert message.endswith(
        f"{other['HyperParameterTuningJobName']} tuned the objective metric validation:mae, this run tunes "
        "validation:rmse"
    )
    assert first not in message.split(": ", 2)[2]


def test_a_parent_still_running_is_refused_naming_it(engine: Engine) -> None:
    first = cold_run(engine)
    running = copy.deepcopy(tuning_requests(engine)[0])
    running["HyperParameterTuningJobName"] = first[:-4] + "run1"
    messages: list[str] = []

    def while_it_runs(event: str, data: dict[str, Any]) -> None:
        if event == "training_job_started" and not messages:
            messages.append(refused(engine, {"parents": [running["HyperParameterTuningJobName"]]}))

    engine.sagemaker.listener = while_it_runs
    engine.sagemaker.create_hyper_parameter_tuning_job(**running)

    assert messages == [
        f"WarmStartParentInvalid: warmStart.parents cannot be used: {running['HyperParameterTuningJobName']} "
        "is InProgress, not finished (Completed, Stopped or Failed)"
    ]


def test_more_than_five_parents_are_refused_by_the_schema(engine: Engine) -> None:
    message = refused(engine, {"parents": [f"job-{i}" for i in range(6)]})

    assert message == (
        "InvalidExecutionInput: warmStart.parents must list at most 5 (SageMaker's limit of parents), got 6"
    )
