"""The offline SageMaker emulator's tuning job: every trial runs real XGBoost, the best is reported, the
training jobs are described, listed and heard as SageMaker's are.

The requests come from the state machine definition itself (``statemachine/tuning.asl.json``), with the
template's substitutions filled in (``emulator_support.py``); the data is a few hundred rows of Friedman #1.
One moto mock serves each module; every test works in its own bucket with its own emulator.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

from offline.request_validation import constraint_errors, operation_model
from tests.offline.emulator_support import (
    ACCOUNT_ID,
    FEATURES,
    REGION,
    Workspace,
    config,
    error_of,
    rmse,
    tuning_request,
)


def test_the_tuning_job_runs_every_trial_and_reports_the_best(
    tuned: tuple[Workspace, dict[str, Any]],
) -> None:
    space, description = tuned
    assert description["HyperParameterTuningJobStatus"] == "Completed"
    counters = description["TrainingJobStatusCounters"]
    assert counters["Completed"] + counters["Stopped"] == 4
    assert counters["NonRetryableError"] == counters["InProgress"] == 0
    assert description["ObjectiveStatusCounters"] == {"Succeeded": 4, "Pending": 0, "Failed": 0}
    summaries = space.training_jobs(description["HyperParameterTuningJobName"])
    assert len(summaries) == 4
    objectives = {
        s["TrainingJobName"]: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries
    }
    best = description["BestTrainingJob"]
    assert best["TrainingJobName"] == min(objectives, key=objectives.__getitem__)
    assert best["FinalHyperParameterTuningJobObjectiveMetric"] == {
        "Type": "Minimize",
        "MetricName": "validation:rmse",
        "Value": min(objectives.values()),
    }
    # Friedman #1 with noise 1: a tuned model is far better than predicting the mean (about 5).
    assert 0.8 < min(objectives.values()) < 3.0


def test_training_jobs_are_named_after_the_tuning_job_and_counted(
    tuned: tuple[Workspace, dict[str, Any]],
) -> None:
    space, description = tuned
    tuning_name = description["HyperParameterTuningJobName"]
    names = sorted(s["TrainingJobName"] for s in space.training_jobs(tuning_name))
    assert [n[: -len("-12345678")] for n in names] == [f"{tuning_name}-{i:03d}" for i in range(1, 5)]
    assert all(re.fullmatch(rf"{tuning_name}-\d{{3}}-[0-9a-f]{{8}}", n) for n in names)


def test_tuned_hyperparameters_are_strings_within_their_ranges(
    tuned: tuple[Workspace, dict[str, Any]],
) -> None:
    space, description = tuned
    ranges = config(tuning_request(space.dataset))["ParameterRanges"]
    for summary in space.training_jobs(description["HyperParameterTuningJobName"]):
        tuned_values = summary["TunedHyperParameters"]
        assert set(tuned_values) == {r["Name"] for kind in ranges.values() for r in kind}
        for item in ranges["ContinuousParameterRanges"]:
            value = float(tuned_values[item["Name"]])
            assert float(item["MinValue"]) <= value <= float(item["MaxValue"]), item["Name"]
        for item in ranges["IntegerParameterRanges"]:
            text = tuned_values[item["Name"]]
            assert re.fullmatch(r"-?\d+", text), text
            assert int(item["MinValue"]) <= int(text) <= int(item["MaxValue"])


def test_the_same_random_seed_gives_the_same_search_and_results(workspace: Workspace) -> None:
    def run(name: str) -> list[tuple[dict[str, str], float]]:
        workspace.tune(tuning_request(workspace.dataset, name))
        summaries = sorted(workspace.training_jobs(name), key=lambda s: s["TrainingJobName"])
        return [
            (s["TunedHyperParameters"], s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
            for s in summaries
        ]

    first, second = run("seeded-a"), run("seeded-b")
    assert first == second
    request = tuning_request(workspace.dataset, "seeded-c")
    config(request)["RandomSeed"] = 7
    workspace.tune(request)
    other = [s["TunedHyperParameters"] for s in workspace.training_jobs("seeded-c")]
    assert sorted(map(json.dumps, other)) != sorted(json.dumps(hp) for hp, _ in first)


def test_describe_training_job_gives_the_artifact_metrics_and_hyperparameters(
    tuned: tuple[Workspace, dict[str, Any]],
) -> None:
    space, description = tuned
    best = description["BestTrainingJob"]
    job = space.sagemaker.describe_training_job(TrainingJobName=best["TrainingJobName"])
    request = tuning_request(space.dataset)
    static = request["TrainingJobDefinition"]["StaticHyperParameters"]
    assert job["TrainingJobStatus"] == best["TrainingJobStatus"]
    assert job["TuningJobArn"] == description["HyperParameterTuningJobArn"]
    assert (
        job["TrainingJobArn"]
        == f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:training-job/{best['TrainingJobName']}"
    )
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == (
        f"{space.dataset['modelOutputUri']}{best['TrainingJobName']}/output/model.tar.gz"
    )
    assert job["HyperParameters"] == {
        **static,
        **best["TunedHyperParameters"],
        "_tuning_objective_metric": "validation:rmse",
    }
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert metrics["validation:rmse"] == best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert "train:rmse" in metrics
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][:4] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
    ]
    assert job["CreationTime"] <= job["TrainingStartTime"] <= job["TrainingEndTime"]
    assert "FailureReason" not in job


def test_the_model_artifact_is_the_containers_xgboost_model_and_predicts(
    tuned: tuple[Workspace, dict[str, Any]],
) -> None:
    space, description = tuned
    best = description["BestTrainingJob"]
    artifact = space.sagemaker.describe_training_job(TrainingJobName=best["TrainingJobName"])[
        "ModelArtifacts"
    ]
    with tarfile.open(fileobj=io.BytesIO(space.get(artifact["S3ModelArtifacts"])), mode="r:gz") as tar:
        assert tar.getnames() == ["xgboost-model"]
        member = tar.extractfile("xgboost-model")
        assert member is not None
        raw = member.read()
    assert raw[:1] == b"{"  # UBJSON, what Booster.save_model writes without an extension
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    assert booster.num_features() == FEATURES
    validation = np.array(space.validation)
    predictions = booster.predict(xgb.DMatrix(validation[:, 1:]))
    # The objective is the last validation RMSE emitted; early stopping keeps the best iteration's trees.
    assert (
        rmse(predictions, list(validation[:, 0]))
        <= best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] + 1e-4
    )


def test_describe_responses_fit_botocores_output_shapes(
    best_model: tuple[Workspace, str, xgb.Booster], tuned: tuple[Workspace, dict[str, Any]]
) -> None:
    space, name, _ = best_model
    _, description = tuned
    api = space.sagemaker
    responses = {
        "DescribeHyperParameterTuningJob": description,
        "ListTrainingJobsForHyperParameterTuningJob": api.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=description["HyperParameterTuningJobName"]
        ),
        "DescribeTrainingJob": space.sagemaker.describe_training_job(TrainingJobName=name),
        "DescribeModel": space.sagemaker.describe_model(ModelName=name),
    }
    for operation, response in responses.items():
        shape = operation_model(operation).output_shape
        report = ParamValidator().validate(response, shape)
        assert not report.has_errors(), f"{operation}: {report.generate_report()}"
        assert constraint_errors(response, shape) == [], operation


def test_listing_sorts_filters_and_pages(tuned: tuple[Workspace, dict[str, Any]]) -> None:
    space, description = tuned
    api = space.sagemaker
    name = description["HyperParameterTuningJobName"]

    def listed(**kwargs: Any) -> list[dict[str, Any]]:
        return api.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name, **kwargs
        )["TrainingJobSummaries"]

    by_objective = [
        s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        for s in listed(SortBy="FinalObjectiveMetricValue")
    ]
    assert by_objective == sorted(by_objective) and len(by_objective) == 4
    descending = [
        s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        for s in listed(SortBy="FinalObjectiveMetricValue", SortOrder="Descending")
    ]
    assert descending == by_objective[::-1]
    assert (
        listed(SortBy="FinalObjectiveMetricValue", MaxResults=1)[0]["TrainingJobName"]
        == (description["BestTrainingJob"]["TrainingJobName"])
    )
    names = [s["TrainingJobName"] for s in listed()]  # default: by name, ascending
    assert names == sorted(names)
    created = [s["CreationTime"] for s in listed(SortBy="CreationTime", SortOrder="Descending")]
    assert created == sorted(created, reverse=True)

    pages, token = [], None
    while True:
        page = api.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name, MaxResults=3, **({"NextToken": token} if token else {})
        )
        pages.append([s["TrainingJobName"] for s in page["TrainingJobSummaries"]])
        token = page.get("NextToken")
        if not token:
            break
    assert pages == [names[:3], names[3:]]

    for status in ("Completed", "Stopped", "Failed"):
        assert all(s["TrainingJobStatus"] == status for s in listed(StatusEquals=status))
    assert len(listed(StatusEquals="Completed")) == description["TrainingJobStatusCounters"]["Completed"]
    with pytest.raises(ClientError) as excinfo:
        listed(NextToken="not-a-token")
    assert error_of(excinfo) == ("ValidationException", "Invalid pagination token")


def test_the_listener_hears_every_job_with_json_safe_data(tuned: tuple[Workspace, dict[str, Any]]) -> None:
    space, description = tuned
    events = [
        e
        for e in space.events
        if e[1].get("tuningJob", e[1].get("name")) == description["HyperParameterTuningJobName"]
        or e[0] == "tuning_job_completed"
    ]
    kinds = [kind for kind, _ in events]
    assert kinds.count("training_job_started") == 4
    assert kinds.count("training_job_completed") == 4
    assert kinds[-1] == "tuning_job_completed"
    # Two jobs asked at once, as MaxParallelTrainingJobs says: both start before either finishes.
    assert kinds[:4] == [
        "training_job_started",
        "training_job_started",
        "training_job_completed",
        "training_job_completed",
    ]
    completed = [data for kind, data in events if kind == "training_job_completed"]
    assert all(
        d["objective"]["name"] == "validation:rmse" and d["status"] in ("Completed", "Stopped")
        for d in completed
    )
    assert completed[-1]["bestSoFar"]["name"] == description["BestTrainingJob"]["TrainingJobName"]
    final = events[-1][1]
    assert final["status"] == "Completed"
    assert final["bestTrainingJob"]["name"] == description["BestTrainingJob"]["TrainingJobName"]
