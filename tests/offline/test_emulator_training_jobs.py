"""The offline SageMaker emulator's training jobs: failures, the container's checks, strategies, stopping,
and the search space and early stopping in isolation.

The requests come from the state machine definition itself (``statemachine/tuning.asl.json``), with the
template's substitutions filled in (``emulator_support.py``); the data is a few hundred rows of Friedman #1.
One moto mock serves each module; every test works in its own bucket with its own emulator.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
import pytest
from botocore.exceptions import ClientError

from offline import hpo
from tests.offline.emulator_support import (
    Workspace,
    config,
    error_of,
    tuning_request,
)


def test_a_training_job_that_fails_does_not_count_for_the_best(workspace: Workspace) -> None:
    workspace.sagemaker.fail_training_jobs_when(
        lambda name, hyperparameters: (
            "ClientError: injected" if name.split("-")[-2] in ("001", "003") else None
        )
    )
    description = workspace.tune(tuning_request(workspace.dataset))
    assert description["HyperParameterTuningJobStatus"] == "Completed"
    assert description["TrainingJobStatusCounters"]["NonRetryableError"] == 2
    assert description["ObjectiveStatusCounters"] == {"Succeeded": 2, "Pending": 0, "Failed": 2}
    failed = workspace.training_jobs(workspace.dataset["tuningJobName"])
    failed = [s for s in failed if s["TrainingJobStatus"] == "Failed"]
    assert {s["FailureReason"] for s in failed} == {"ClientError: injected"}
    assert all(
        "FinalHyperParameterTuningJobObjectiveMetric" not in s and s["ObjectiveStatus"] == "Failed"
        for s in failed
    )
    assert description["BestTrainingJob"]["TrainingJobName"].split("-")[-2] in ("002", "004")


def test_unreadable_training_data_fails_every_job_and_the_tuning_job(workspace: Workspace) -> None:
    # One field a line: csv.Sniffer takes a letter of the header for the delimiter, which XGBoost's reader
    # then does not find on line 2.
    workspace.put("data/train/train.csv", b"label\n1\n")
    description = workspace.tune(tuning_request(workspace.dataset))
    assert description["HyperParameterTuningJobStatus"] == "Failed"
    assert "BestTrainingJob" not in description
    assert description["FailureReason"] == (
        "No training job succeeded after 4 attempts. For additional details, please take a look at the "
        "training job failures by listing training jobs for the hyperparameter tuning job."
    )
    assert description["TrainingJobStatusCounters"]["NonRetryableError"] == 4
    for summary in workspace.training_jobs(workspace.dataset["tuningJobName"]):
        assert summary["TrainingJobStatus"] == "Failed"
        assert summary["FailureReason"].startswith("ClientError: Failed to load csv data")
        assert f"s3://{workspace.bucket}/data/train/train.csv line 2" in summary["FailureReason"]
        job = workspace.sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])
        assert "ModelArtifacts" not in job and job["SecondaryStatus"] == "Failed"


def test_an_empty_training_file_fails_the_jobs_with_the_containers_reason(workspace: Workspace) -> None:
    workspace.put("data/train/train.csv", b"")
    description = workspace.tune(tuning_request(workspace.dataset))
    assert description["HyperParameterTuningJobStatus"] == "Failed"
    reasons = {s["FailureReason"] for s in workspace.training_jobs(workspace.dataset["tuningJobName"])}
    assert reasons == {"ClientError: No data in train channel path /opt/ml/input/data/train"}


def test_five_failed_jobs_without_a_success_end_the_tuning_job(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    config(request)["ResourceLimits"].update(MaxNumberOfTrainingJobs=12, MaxParallelTrainingJobs=1)
    workspace.sagemaker.fail_training_jobs_when(lambda name, hyperparameters: "AlgorithmError: injected")
    description = workspace.tune(request)
    assert description["HyperParameterTuningJobStatus"] == "Failed"
    assert description["FailureReason"].startswith("No training job succeeded after 5 attempts.")
    assert description["TrainingJobStatusCounters"]["NonRetryableError"] == 5


def test_the_containers_hyperparameter_checks_fail_the_jobs(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    request["TrainingJobDefinition"]["StaticHyperParameters"]["precision_dtype"] = "float32"
    description = workspace.tune(request)
    assert description["HyperParameterTuningJobStatus"] == "Failed"
    reasons = {s["FailureReason"] for s in workspace.training_jobs(workspace.dataset["tuningJobName"])}
    assert reasons == {"ClientError: Extraneous hyperparameter found: precision_dtype"}

    request = tuning_request(workspace.dataset, "no-num-round")
    del request["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"]
    workspace.tune(request)
    reasons = {s["FailureReason"] for s in workspace.training_jobs("no-num-round")}
    assert reasons == {"ClientError: Missing required hyperparameter: num_round"}


def test_a_target_objective_value_ends_the_tuning_job_once_reached(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    config(request)["TuningJobCompletionCriteria"] = {"TargetObjectiveMetricValue": 100.0}
    description = workspace.tune(request)
    assert description["HyperParameterTuningJobStatus"] == "Completed"
    assert len(workspace.training_jobs(request["HyperParameterTuningJobName"])) == 2  # the first batch


def test_without_the_objectives_channel_no_job_reports_an_objective(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    channels = request["TrainingJobDefinition"]["InputDataConfig"]
    channels[:] = [c for c in channels if c["ChannelName"] != "validation"]
    description = workspace.tune(request)
    assert description["HyperParameterTuningJobStatus"] == "Failed"
    assert description["FailureReason"].startswith(
        "No training job emitted the objective metric validation:rmse."
    )
    assert description["TrainingJobStatusCounters"]["Completed"] == 4
    assert description["ObjectiveStatusCounters"]["Failed"] == 4
    assert "BestTrainingJob" not in description


def test_a_grid_search_runs_every_categorical_combination_once(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    config(request).update(
        Strategy="Grid",
        ParameterRanges={
            "CategoricalParameterRanges": [
                {"Name": "max_depth", "Values": ["2", "4", "6"]},
                {"Name": "eta", "Values": ["0.1", "0.3"]},
            ]
        },
    )
    del config(request)["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    description = workspace.tune(request)
    assert description["HyperParameterTuningJobStatus"] == "Completed"
    combinations = {
        (s["TunedHyperParameters"]["max_depth"], s["TunedHyperParameters"]["eta"])
        for s in workspace.training_jobs(workspace.dataset["tuningJobName"])
    }
    assert combinations == {(d, e) for d in ("2", "4", "6") for e in ("0.1", "0.3")}

    config(request)["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 5
    request["HyperParameterTuningJobName"] = "grid-too-few"
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**request)
    assert "must equal the number of distinct categorical combinations (6)" in error_of(excinfo)[1]


def test_hyperband_caps_boosting_rounds_at_max_resource(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    config(request).update(
        Strategy="Hyperband",
        TrainingJobEarlyStoppingType="Off",
        StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 5, "MaxResource": 40}},
    )
    config(request)["ResourceLimits"].update(MaxNumberOfTrainingJobs=6, MaxParallelTrainingJobs=2)
    description = workspace.tune(request)
    assert description["HyperParameterTuningJobStatus"] == "Completed"
    completed = [e for kind, e in workspace.events if kind == "training_job_completed"]
    assert len(completed) == 6
    assert all(1 <= e["rounds"] <= 40 for e in completed)
    assert any(e["rounds"] == 40 for e in completed)


def test_stopping_the_tuning_job_launches_no_more_jobs(workspace: Workspace) -> None:
    def stop_after_first(event: str, data: dict[str, Any]) -> None:
        if event == "training_job_completed" and data["index"] == 1:
            workspace.sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=data["tuningJob"])

    workspace.sagemaker.listener = stop_after_first
    request = tuning_request(workspace.dataset)
    config(request)["ResourceLimits"]["MaxParallelTrainingJobs"] = 1
    description = workspace.tune(request)
    assert description["HyperParameterTuningJobStatus"] == "Stopped"
    assert description["TrainingJobStatusCounters"] == {
        "Completed": 1,
        "InProgress": 0,
        "RetryableError": 0,
        "NonRetryableError": 0,
        "Stopped": 0,
    }
    assert "BestTrainingJob" in description
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.stop_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=request["HyperParameterTuningJobName"]
        )
    assert error_of(excinfo)[0] == "ValidationException"


def test_stopping_the_tuning_job_stops_its_running_jobs(workspace: Workspace) -> None:
    def stop_when_the_batch_starts(event: str, data: dict[str, Any]) -> None:
        if event == "training_job_started" and data["index"] == 2:
            workspace.sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=data["tuningJob"])

    workspace.sagemaker.listener = stop_when_the_batch_starts
    description = workspace.tune(tuning_request(workspace.dataset))
    assert description["HyperParameterTuningJobStatus"] == "Stopped"
    assert description["TrainingJobStatusCounters"]["Stopped"] == 2
    assert sum(description["TrainingJobStatusCounters"].values()) == 2


# --- search space and early stopping, in isolation ---------------------------------------------------


def test_scaling_types_map_to_optuna_distributions_and_back_to_strings() -> None:
    space = hpo.search_space(
        {
            "ContinuousParameterRanges": [
                {"Name": "lin", "MinValue": "0", "MaxValue": "5", "ScalingType": "Linear"},
                {"Name": "log", "MinValue": "0.001", "MaxValue": "10", "ScalingType": "Logarithmic"},
                {"Name": "rev", "MinValue": "0.5", "MaxValue": "0.999", "ScalingType": "ReverseLogarithmic"},
                {"Name": "auto", "MinValue": "1", "MaxValue": "2"},
            ],
            "IntegerParameterRanges": [
                {"Name": "depth", "MinValue": "1", "MaxValue": "10", "ScalingType": "Logarithmic"}
            ],
            "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}],
        },
        "Random",
    )
    by_name = {p.name: p for p in space}
    assert by_name["log"].distribution().log and not by_name["lin"].distribution().log
    assert not by_name["auto"].distribution().log
    assert isinstance(by_name["depth"].distribution(), optuna.distributions.IntDistribution)
    assert by_name["depth"].distribution().log

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    distributions = {p.name: p.distribution() for p in space}
    samples = [study.ask(distributions).params for _ in range(400)]
    values = {name: [float(by_name[name].value(s[name])) for s in samples] for name in ("log", "rev")}
    assert all(0.001 <= v <= 10 for v in values["log"]) and all(0.5 <= v <= 0.999 for v in values["rev"])
    # A log scale puts half the samples below the geometric mean of the bounds (0.1), a linear one about 1%.
    assert 0.35 < np.mean(np.array(values["log"]) < 0.1) < 0.65
    # Reverse log crowds samples towards the top: half are above 1 - sqrt(0.5 * 0.001) ~ 0.978.
    assert 0.35 < np.mean(np.array(values["rev"]) > 1 - math.sqrt(0.5 * 0.001)) < 0.65
    assert {by_name["depth"].value(s["depth"]) for s in samples} <= {str(i) for i in range(1, 11)}
    assert {by_name["booster"].value(s["booster"]) for s in samples} == {"gbtree", "dart"}


def _trial_at(values: list[float]) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        state=optuna.trial.TrialState.PRUNED, intermediate_values=dict(enumerate(values))
    )


def test_early_stopping_stops_a_job_worse_than_the_median_of_previous_running_averages() -> None:
    pruner = hpo.RunningAverageMedianPruner(maximize=False, min_previous_jobs=3, min_epochs=2)
    study = optuna.create_study()
    for history in ([4.0, 2.0, 1.0], [5.0, 3.0, 2.0], [6.0, 4.0, 3.0]):
        pruner.record_finished(history)
    # Running averages at epoch 2 (the third): 7/3, 10/3, 13/3 -> median 10/3.
    assert not pruner.prune(study, _trial_at([9.0, 9.0, 9.0])), "previous jobs count only from the next batch"
    pruner.start_batch()
    assert pruner.prune(study, _trial_at([9.0, 9.0, 3.4]))
    assert not pruner.prune(study, _trial_at([9.0, 9.0, 3.3]))
    assert not pruner.prune(study, _trial_at([9.0])), "no stopping before min_epochs"
    assert not pruner.prune(study, _trial_at([9.0, 9.0, 9.0, 9.0])), "no previous job reached epoch 3"
    maximizing = hpo.RunningAverageMedianPruner(maximize=True, min_previous_jobs=1, min_epochs=1)
    maximizing.record_finished([0.5, 0.7])
    maximizing.start_batch()
    assert maximizing.prune(study, _trial_at([0.2, 0.5])) and not maximizing.prune(
        study, _trial_at([0.2, 0.7])
    )


def test_early_stopped_jobs_are_stopped_and_their_objective_counts(workspace: Workspace) -> None:
    # Enough random configurations of the definition's search space (its seed fixes them) that some fall
    # behind the median of the jobs before them and are stopped.
    jobs = 16
    request = tuning_request(workspace.dataset)
    config(request)["ResourceLimits"].update(MaxNumberOfTrainingJobs=jobs, MaxParallelTrainingJobs=1)
    config(request)["Strategy"] = "Random"
    description = workspace.tune(request)
    summaries = workspace.training_jobs(workspace.dataset["tuningJobName"])
    stopped = [s for s in summaries if s["TrainingJobStatus"] == "Stopped"]
    assert stopped, f"with {jobs} random configurations some are worse than the median and are stopped"
    assert description["TrainingJobStatusCounters"]["Stopped"] == len(stopped)
    for summary in stopped:
        assert summary["ObjectiveStatus"] == "Succeeded"
        assert "Value" in summary["FinalHyperParameterTuningJobObjectiveMetric"]
        job = workspace.sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])
        assert job["SecondaryStatus"] == "Stopped" and "S3ModelArtifacts" in job["ModelArtifacts"]
    assert description["ObjectiveStatusCounters"]["Succeeded"] == jobs
