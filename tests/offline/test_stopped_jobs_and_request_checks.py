"""Stopped training jobs leave what the container leaves, and SageMaker's request checks fail at the call
(the workflow's side of stopped jobs is in ``test_workflow_gate_and_cost_controls.py``).

Jobs are stopped by the ``every_job_stopped`` fixture, as MaxRuntimeInSeconds stops them, so no test
depends on how long training takes.
"""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from offline import xgboost_algorithm
from tests.offline.conftest import STOP_AFTER_ROUND
from tests.offline.emulator_support import (
    Workspace,
    config,
    error_of,
    model_request,
    transform_request,
    tuning_job_refusal,
    tuning_request,
)


def _model_files(tarball: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        return [member.name for member in tar.getmembers() if member.isfile()]


def _one_stopped_job(
    workspace: Workspace, save_model_on_termination: str | None
) -> tuple[dict[str, Any], str]:
    request = tuning_request(workspace.dataset)
    config(request)["ResourceLimits"].update(MaxNumberOfTrainingJobs=1, MaxParallelTrainingJobs=1)
    static = request["TrainingJobDefinition"]["StaticHyperParameters"]
    static.pop("save_model_on_termination", None)
    if save_model_on_termination is not None:
        static["save_model_on_termination"] = save_model_on_termination
    description = workspace.tune(request)
    best = description["BestTrainingJob"]["TrainingJobName"]
    job = workspace.sagemaker.describe_training_job(TrainingJobName=best)
    return job, job["ModelArtifacts"]["S3ModelArtifacts"]


def _transform(workspace: Workspace, model_data_url: str) -> dict[str, Any]:
    name = "m-" + uuid.uuid4().hex[:8]
    workspace.sagemaker.create_model(**model_request(name, model_data_url))
    request = transform_request(workspace.dataset, name, "t-" + uuid.uuid4().hex[:8])
    workspace.sagemaker.create_transform_job(**request)
    return workspace.sagemaker.describe_transform_job(TransformJobName=request["TransformJobName"])


# --- stopped training jobs ---------------------------------------------------------------------------


@pytest.mark.parametrize("setting", [None, "false"], ids=["absent", "false"])
def test_a_stopped_job_without_save_model_on_termination_leaves_an_empty_model_directory(
    workspace: Workspace, every_job_stopped: list[int], setting: str | None
) -> None:
    job, artifact = _one_stopped_job(workspace, setting)
    assert every_job_stopped == [STOP_AFTER_ROUND]
    assert job["TrainingJobStatus"] == "Stopped" and job["SecondaryStatus"] == "MaxRuntimeExceeded"
    # SageMaker still uploads the model directory; the container put nothing in it.
    assert _model_files(workspace.get(artifact)) == []
    # CreateModel only checks that the object exists; the transform is where it fails.
    transform = _transform(workspace, artifact)
    assert transform["TransformJobStatus"] == "Failed"
    assert "model.tar.gz holds no model file" in transform["FailureReason"]


def test_a_stopped_job_with_save_model_on_termination_keeps_the_model_trained_so_far(
    workspace: Workspace, every_job_stopped: list[int]
) -> None:
    job, artifact = _one_stopped_job(workspace, "true")
    assert job["TrainingJobStatus"] == "Stopped"
    assert _model_files(workspace.get(artifact)) == [xgboost_algorithm.MODEL_FILE]
    model = xgboost_algorithm.load_model(workspace.get(artifact))
    assert model.boosters[0].num_boosted_rounds() == STOP_AFTER_ROUND
    assert _transform(workspace, artifact)["TransformJobStatus"] == "Completed"


def test_the_best_job_may_be_a_stopped_one(workspace: Workspace, every_job_stopped: list[int]) -> None:
    """The best objective among the jobs whose objective status is Succeeded, stopped or completed."""
    request = tuning_request(workspace.dataset)
    config(request)["ResourceLimits"].update(MaxNumberOfTrainingJobs=2, MaxParallelTrainingJobs=1)
    description = workspace.tune(request)
    summaries = workspace.training_jobs(workspace.dataset["tuningJobName"])
    assert {s["TrainingJobStatus"] for s in summaries} == {"Stopped"}
    assert all(s["ObjectiveStatus"] == "Succeeded" for s in summaries)
    best = min(summaries, key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    assert description["BestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]


# --- request checks at CreateHyperParameterTuningJob ------------------------------------------------


def _rename_first_integer_range(name: str) -> Callable[[dict[str, Any]], None]:
    def change(request: dict[str, Any]) -> None:
        config(request)["ParameterRanges"]["IntegerParameterRanges"][0]["Name"] = name

    return change


def _objective(**fields: str) -> Callable[[dict[str, Any]], None]:
    def change(request: dict[str, Any]) -> None:
        config(request)["HyperParameterTuningJobObjective"].update(fields)

    return change


def _image(image: str) -> Callable[[dict[str, Any]], None]:
    def change(request: dict[str, Any]) -> None:
        request["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"] = image

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            _rename_first_integer_range("max_bin"),
            "The hyperparameter(s) max_bin cannot be tuned for the XGBoost algorithm 3.0-5",
        ),
        (
            _rename_first_integer_range("no_such_name"),
            "The hyperparameter(s) no_such_name cannot be tuned",
        ),
        (
            _objective(MetricName="train:rmse"),
            "The objective metric train:rmse is not one the XGBoost algorithm 3.0-5 emits for tuning",
        ),
        (
            _objective(Type="Maximize"),
            "The objective metric validation:rmse of the XGBoost algorithm 3.0-5 must be tuned with Type "
            "Minimize, not Maximize",
        ),
        (
            _image("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost@sha256:" + "0" * 64),
            "give TrainingImage a version tag",
        ),
    ],
    ids=["not-tunable", "unknown-name", "not-a-tuning-metric", "wrong-direction", "no-version-tag"],
)
def test_sagemakers_request_checks_refuse_at_the_call(
    workspace: Workspace, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    request = tuning_request(workspace.dataset)
    change(request)
    message = tuning_job_refusal(workspace, request)
    assert expected in message
    # Refused before anything ran: no training job was started.
    assert not [event for event, _ in workspace.events if event == "training_job_started"]


def test_the_direction_of_a_maximized_metric_is_maximize(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    _objective(MetricName="validation:r2", Type="Minimize")(request)
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**request)
    assert "must be tuned with Type Maximize, not Minimize" in error_of(excinfo)[1]
