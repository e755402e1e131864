"""The emulator's warm start: WarmStartConfig refused at CreateHyperParameterTuningJob for what SageMaker's
warm start restrictions forbid, and otherwise the parents' evaluated configurations seed the search.

The parent is one tuning job of the definition's request (4 training jobs) made once per module.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import optuna
import pytest
from botocore.exceptions import ClientError

from offline import hpo
from offline.emulator import tuning as tuning_module
from tests.offline.emulator_support import (
    IMAGE,
    Workspace,
    config,
    error_of,
    tuning_job_error,
    tuning_request,
)


@pytest.fixture(scope="module")
def parent(aws: None, friedman1: Callable[..., Any]) -> tuple[Workspace, dict[str, Any]]:
    space = Workspace(friedman1)
    return space, space.tune(tuning_request(space.dataset))


def child_request(
    space: Workspace, parents: list[str], warm_start_type: str = "TransferLearning"
) -> dict[str, Any]:
    request = tuning_request(space.dataset, name="child-" + uuid.uuid4().hex[:8])
    request["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": name} for name in parents],
        "WarmStartType": warm_start_type,
    }
    return request


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch) -> list[list[optuna.trial.FrozenTrial]]:
    """The trials each tuning job created from here on was seeded with."""
    calls: list[list[optuna.trial.FrozenTrial]] = []
    seed_trials = tuning_module.seed_trials

    def recording(*args: Any) -> list[optuna.trial.FrozenTrial]:
        trials = seed_trials(*args)
        calls.append(trials)
        return trials

    monkeypatch.setattr(tuning_module, "seed_trials", recording)
    return calls


def test_a_warm_started_job_starts_from_every_completed_training_job_of_its_parent(
    parent: tuple[Workspace, dict[str, Any]], seeded: list[list[optuna.trial.FrozenTrial]]
) -> None:
    space, described = parent
    name = described["HyperParameterTuningJobName"]
    completed = [s for s in space.training_jobs(name) if s["TrainingJobStatus"] == "Completed"]

    child = space.tune(child_request(space, [name]))

    assert child["HyperParameterTuningJobStatus"] == "Completed"
    assert child["WarmStartConfig"]["ParentHyperParameterTuningJobs"] == [
        {"HyperParameterTuningJobName": name}
    ]
    (trials,) = seeded
    assert completed and len(trials) == len(completed)
    by_objective = {
        s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]: s["TunedHyperParameters"]
        for s in completed
    }
    for trial in trials:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        tuned = by_objective[trial.value]
        assert str(trial.params["max_depth"]) == tuned["max_depth"]
        assert trial.params["eta"] == pytest.approx(float(tuned["eta"]))


def test_a_parents_job_outside_the_childs_ranges_is_left_out(
    parent: tuple[Workspace, dict[str, Any]], seeded: list[list[optuna.trial.FrozenTrial]]
) -> None:
    space, described = parent
    name = described["HyperParameterTuningJobName"]
    completed = [s for s in space.training_jobs(name) if s["TrainingJobStatus"] == "Completed"]
    depths = sorted(int(s["TunedHyperParameters"]["max_depth"]) for s in completed)
    request = child_request(space, [name])
    # The child searches only the depths up to the parent's median one.
    limit = depths[len(depths) // 2]
    config(request)["ParameterRanges"]["IntegerParameterRanges"][0]["MaxValue"] = str(limit)

    space.tune(request)

    (trials,) = seeded
    assert len(trials) == sum(1 for depth in depths if depth <= limit)
    assert all(trial.params["max_depth"] <= limit for trial in trials)


def test_several_parents_seed_the_search_together(
    parent: tuple[Workspace, dict[str, Any]], seeded: list[list[optuna.trial.FrozenTrial]]
) -> None:
    space, described = parent
    first = described["HyperParameterTuningJobName"]
    second = space.tune(child_request(space, [first]))["HyperParameterTuningJobName"]
    seeded.clear()

    space.tune(child_request(space, [first, second], "IdenticalDataAndAlgorithm"))

    (trials,) = seeded
    completed = [
        s
        for name in (first, second)
        for s in space.training_jobs(name)
        if s["TrainingJobStatus"] == "Completed"
    ]
    assert len(trials) == len(completed)


def test_identical_data_and_algorithm_reports_the_best_job_over_the_parents_too(
    parent: tuple[Workspace, dict[str, Any]],
) -> None:
    space, described = parent
    name = described["HyperParameterTuningJobName"]

    child = space.tune(child_request(space, [name], "IdenticalDataAndAlgorithm"))
    transfer = space.tune(child_request(space, [name]))

    bests = [described["BestTrainingJob"], child["BestTrainingJob"]]
    best = min(bests, key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    assert child["OverallBestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]
    assert child["OverallBestTrainingJob"]["TuningJobName"] == best["TuningJobName"]
    # BestTrainingJob stays the job's own; TransferLearning reports no overall best.
    assert child["BestTrainingJob"]["TuningJobName"] == child["HyperParameterTuningJobName"]
    assert "OverallBestTrainingJob" not in transfer


def test_a_warm_started_search_does_not_draw_its_parents_random_configurations_again(
    parent: tuple[Workspace, dict[str, Any]],
) -> None:
    space, described = parent
    name = described["HyperParameterTuningJobName"]
    tried = {tuple(sorted(s["TunedHyperParameters"].items())) for s in space.training_jobs(name)}

    child = space.tune(child_request(space, [name]))

    again = [
        s["TrainingJobName"]
        for s in space.training_jobs(child["HyperParameterTuningJobName"])
        if tuple(sorted(s["TunedHyperParameters"].items())) in tried
    ]
    assert again == []


def test_an_unknown_parent_is_not_found(parent: tuple[Workspace, dict[str, Any]]) -> None:
    space, _ = parent
    code, message = tuning_job_error(space, child_request(space, ["never-created-1"]))
    assert code == "ResourceNotFound"
    assert "never-created-1" in message


def test_a_parent_still_running_is_refused(aws: None, friedman1: Callable[..., Any]) -> None:
    space = Workspace(friedman1)
    request = tuning_request(space.dataset)
    errors: list[tuple[str, str]] = []

    def while_running(event: str, data: dict[str, Any]) -> None:
        space.record(event, data)
        if event == "training_job_started" and not errors:
            with pytest.raises(ClientError) as raised:
                space.sagemaker.create_hyper_parameter_tuning_job(
                    **child_request(space, [request["HyperParameterTuningJobName"]])
                )
            errors.append(error_of(raised))

    space.sagemaker.listener = while_running
    space.tune(request)

    ((code, message),) = errors
    assert code == "ValidationException"
    assert "is InProgress" in message and "terminal state (Completed, Stopped, Failed)" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda r: config(r).update(
                HyperParameterTuningJobObjective={"Type": "Minimize", "MetricName": "validation:mae"}
            ),
            "must use its parents' objective metric",
        ),
        (
            lambda r: r["TrainingJobDefinition"]["StaticHyperParameters"].update(gamma="0"),
            "static plus tunable hyperparameters",
        ),
        (
            lambda r: config(r)["ParameterRanges"].update(
                ContinuousParameterRanges=[
                    *config(r)["ParameterRanges"]["ContinuousParameterRanges"],
                    {"Name": "max_depth", "MinValue": "1", "MaxValue": "10", "ScalingType": "Linear"},
                ],
                IntegerParameterRanges=[],
            ),
            "The range type of max_depth differs",
        ),
        (
            lambda r: config(r)["ResourceLimits"].update(MaxNumberOfTrainingJobs=497),
            "more than the 500 training jobs",
        ),
    ],
    ids=["objective metric", "hyperparameter count", "range type", "500 training jobs"],
)
def test_what_the_warm_start_restrictions_forbid_is_refused_at_create(
    parent: tuple[Workspace, dict[str, Any]], change: Callable[[dict[str, Any]], Any], expected: str
) -> None:
    space, described = parent
    request = child_request(space, [described["HyperParameterTuningJobName"]])
    change(request)

    code, message = tuning_job_error(space, request)

    assert code == "ValidationException"
    assert expected in message


def test_identical_data_and_algorithm_refuses_another_image(parent: tuple[Workspace, dict[str, Any]]) -> None:
    space, described = parent
    request = child_request(space, [described["HyperParameterTuningJobName"]], "IdenticalDataAndAlgorithm")
    request["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"] = IMAGE.replace(
        ":3.0-5", ":1.7-1"
    )
    code, message = tuning_job_error(space, request)
    assert code == "ValidationException"
    assert "use TransferLearning to change it" in message

    request["WarmStartConfig"]["WarmStartType"] = "TransferLearning"
    assert space.tune(copy.deepcopy(request))["HyperParameterTuningJobStatus"] == "Completed"


def test_list_tuning_jobs_filters_by_name_and_status_newest_first(
    parent: tuple[Workspace, dict[str, Any]],
) -> None:
    space, described = parent
    later = space.tune(child_request(space, [described["HyperParameterTuningJobName"]]))

    listed = space.sagemaker.list_hyper_parameter_tuning_jobs(
        NameContains="CHILD-", StatusEquals="Completed", SortBy="CreationTime", SortOrder="Descending"
    )["HyperParameterTuningJobSummaries"]

    assert listed[0]["HyperParameterTuningJobName"] == later["HyperParameterTuningJobName"]
    assert all(s["HyperParameterTuningJobName"].startswith("child-") for s in listed)
    assert all(s["HyperParameterTuningJobStatus"] == "Completed" for s in listed)
    assert listed[0]["Strategy"] == "Bayesian"
    page = space.sagemaker.list_hyper_parameter_tuning_jobs(MaxResults=1, SortBy="Name")
    assert len(page["HyperParameterTuningJobSummaries"]) == 1 and page["NextToken"]


def test_trials_keep_only_configurations_inside_every_range() -> None:
    space = hpo.search_space(
        {
            "ContinuousParameterRanges": [
                {"Name": "eta", "MinValue": "0.1", "MaxValue": "0.5", "ScalingType": "Logarithmic"},
                {"Name": "x", "MinValue": "0.5", "MaxValue": "0.99", "ScalingType": "ReverseLogarithmic"},
            ],
            "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "6"}],
            "CategoricalParameterRanges": [{"Name": "tree_method", "Values": ["hist", "approx"]}],
        },
        "Bayesian",
    )
    inside = {"eta": "0.2", "x": "0.9", "max_depth": "4", "tree_method": "hist"}
    evaluated = [
        (inside, 1.5),
        ({**inside, "eta": "0.6"}, 1.0),  # above the range
        ({**inside, "max_depth": "4.5"}, 1.0),  # not an integer
        ({**inside, "tree_method": "exact"}, 1.0),  # not one of the values
        ({key: value for key, value in inside.items() if key != "x"}, 1.0),  # static in the parent
    ]

    (trial,) = hpo.warm_start_trials(space, evaluated)

    assert trial.value == 1.5
    assert trial.params == {"eta": 0.2, "x": pytest.approx(0.1), "max_depth": 4, "tree_method": "hist"}
    assert [space[1].value(trial.params["x"])] == ["0.9"]
