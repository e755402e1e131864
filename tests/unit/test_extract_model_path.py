"""Extract Model Path: the tuning job's description in, the best training job and its model artifact out."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import best_job
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tests.conftest import BUCKET_NAME, create_best_training_job

# The run of the generate_dataset.json event, whose tuning job the extract_model_path.json event describes.
RUN_PREFIX = "runs/51af3dc0-3f6c1b2e-9-d843421974ee/"
EXPECTED_HYPERPARAMETERS = {
    "alpha",
    "colsample_bytree",
    "eta",
    "gamma",
    "lambda",
    "max_depth",
    "min_child_weight",
    "subsample",
}


@pytest.fixture
def app(
    load_handler: Callable[[str], ModuleType], bucket: str, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    """The handler; the tuning job has no training job to list (moto cannot list them: the history's own
    tests stub that call)."""
    module = load_handler("extract_model_path")
    monkeypatch.setattr(module, "training_jobs", lambda client, tuning_job: [])
    return module


@pytest.fixture
def description(load_event: Callable[[str], Any]) -> dict[str, Any]:
    """The tuning task's output in the event the state machine sends."""
    return load_event("extract_model_path")["tuning"]


def event_of(description: Any) -> dict[str, Any]:
    """The event the state machine sends for this description."""
    return {"tuning": description, "runPrefix": RUN_PREFIX}


# --- good input --------------------------------------------------------------------------------------------


def test_event_file_gives_best_job_objective_hyperparameters_and_model_artifact(
    app: ModuleType, sagemaker_client: Any, description: dict[str, Any], lambda_context: Any
) -> None:
    name = create_best_training_job(sagemaker_client, description)
    output_path = description["TrainingJobDefinition"]["OutputDataConfig"]["S3OutputPath"]

    result = app.lambda_handler(event_of(description), lambda_context)

    assert result == {
        "tuningJobName": description["HyperParameterTuningJobName"],
        "tuningJobStatus": "Completed",
        "trainingJobStatusCounters": description["TrainingJobStatusCounters"],
        "bestTrainingJobName": name,
        "objectiveMetric": "validation:rmse",
        "objectiveValue": 1.10694,
        "hyperparameters": description["BestTrainingJob"]["TunedHyperParameters"],
        # Where SageMaker puts a training job's model: {S3OutputPath}/{job name}/output/model.tar.gz.
        "modelDataUrl": f"{output_path}{name}/output/model.tar.gz",
        # A bare description (this event file) writes no training job history.
        "trainingJobsUri": f"s3://{BUCKET_NAME}/{RUN_PREFIX}tuning/training-jobs.json",
    }
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_output_has_every_key_the_state_machine_selects(
    app: ModuleType,
    sagemaker_client: Any,
    description: dict[str, Any],
    state_machine_definition: dict[str, Any],
) -> None:
    create_best_training_job(sagemaker_client, description)
    selector = state_machine_definition["States"]["Extract Model Path"]["ResultSelector"]
    save_model = state_machine_definition["States"]["HyperparameterTuning - Save Model"]["Parameters"]

    result = app.lambda_handler(event_of(description), None)

    for path in selector.values():
        assert path.removeprefix("$.Payload.") in result, path
    # Save Model reads the summary back from $.tuning.
    assert save_model["ModelName.$"] == "$.tuning.bestTrainingJobName"
    assert save_model["PrimaryContainer"]["ModelDataUrl.$"] == "$.tuning.modelDataUrl"


def test_unknown_keys_in_the_description_are_ignored(
    app: ModuleType, sagemaker_client: Any, description: dict[str, Any]
) -> None:
    """SageMaker adds fields to its responses over time: a new field must not fail a run."""
    create_best_training_job(sagemaker_client, description)
    expected = app.lambda_handler(event_of(copy.deepcopy(description)), None)
    description["Autotune"] = {"Mode": "Enabled"}
    description["BestTrainingJob"]["TrainingJobDefinitionName"] = "definition-1"
    description["SomeFutureField"] = [1, 2, 3]

    assert app.lambda_handler(event_of(description), None) == expected


def test_best_job_without_objective_metric_gives_null_objective(
    app: ModuleType, sagemaker_client: Any, description: dict[str, Any]
) -> None:
    create_best_training_job(sagemaker_client, description)
    del description["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]

    result = app.lambda_handler(event_of(description), None)

    assert result["objectiveMetric"] is None
    assert result["objectiveValue"] is None
    assert result["bestTrainingJobName"] == description["BestTrainingJob"]["TrainingJobName"]


@pytest.mark.parametrize("value", [0, 3, 0.0, 1e-9, 123456.789])
def test_objective_value_of_any_number_is_kept(
    app: ModuleType, sagemaker_client: Any, description: dict[str, Any], value: float
) -> None:
    create_best_training_job(sagemaker_client, description)
    description["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] = value

    assert app.lambda_handler(event_of(description), None)["objectiveValue"] == value


# --- no model ----------------------------------------------------------------------------------------------


def test_tuning_job_without_best_training_job_raises_no_best_training_job(
    app: ModuleType, load_event: Callable[[str], Any]
) -> None:
    failed = load_event("extract_model_path_no_best_job")["tuning"]
    # No training job to describe: any SageMaker call would be a mistake (a stub with no responses fails).
    stubber = Stubber(app._sagemaker_client())
    with stubber, pytest.raises(best_job.NoBestTrainingJob) as raised:
        app.lambda_handler(event_of(failed), None)

    message = str(raised.value)
    assert raised.type is best_job.NoBestTrainingJob
    assert failed["HyperParameterTuningJobName"] in message
    assert "Failed" in message
    assert "'NonRetryableError': 5" in message
    stubber.assert_no_pending_responses()


def test_best_training_job_null_is_no_best_training_job(app: ModuleType, description: dict[str, Any]) -> None:
    description["BestTrainingJob"] = None

    with pytest.raises(best_job.NoBestTrainingJob, match=description["HyperParameterTuningJobName"]):
        app.lambda_handler(event_of(description), None)


def _failed_training_job(description: dict[str, Any], artifacts: dict[str, str]) -> dict[str, Any]:
    best = description["BestTrainingJob"]
    definition = description["TrainingJobDefinition"]
    return {
        "TrainingJobName": best["TrainingJobName"],
        "TrainingJobArn": best["TrainingJobArn"],
        "ModelArtifacts": artifacts,
        "TrainingJobStatus": "Failed",
        "SecondaryStatus": "Failed",
        "FailureReason": "AlgorithmError: framework error: out of memory",
        "AlgorithmSpecification": {
            "TrainingImage": definition["AlgorithmSpecification"]["TrainingImage"],
            "TrainingInputMode": "File",
        },
        "StoppingCondition": definition["StoppingCondition"],
        "CreationTime": "2026-11-28T10:21:42Z",
    }


def test_best_training_job_with_empty_artifact_raises_model_artifact_not_found(
    app: ModuleType, description: dict[str, Any]
) -> None:
    # moto completes every training job with an artifact: a stubbed client returns one without.
    name = description["BestTrainingJob"]["TrainingJobName"]
    stubber = Stubber(app._sagemaker_client())
    stubber.add_response(
        "describe_training_job",
        _failed_training_job(description, {"S3ModelArtifacts": ""}),
        {"TrainingJobName": name},
    )

    with stubber, pytest.raises(best_job.ModelArtifactNotFound) as raised:
        app.lambda_handler(event_of(description), None)

    assert raised.type is best_job.ModelArtifactNotFound
    assert name in str(raised.value)
    assert "Failed" in str(raised.value)
    stubber.assert_no_pending_responses()


def test_best_training_job_without_model_artifacts_key_raises_model_artifact_not_found(
    app: ModuleType, description: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DescribeTrainingJob's shape calls ModelArtifacts required, yet some jobs come back without it.

    Stubber refuses a response that lacks a required key, so a plain fake client returns it.
    """
    response = _failed_training_job(description, {})
    del response["ModelArtifacts"]
    calls: list[dict[str, Any]] = []

    class FakeSageMaker:
        def describe_training_job(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs)
            return response

    monkeypatch.setattr(app, "_sagemaker_client", FakeSageMaker)

    with pytest.raises(
        best_job.ModelArtifactNotFound, match=description["BestTrainingJob"]["TrainingJobName"]
    ):
        app.lambda_handler(event_of(description), None)
    assert calls == [{"TrainingJobName": description["BestTrainingJob"]["TrainingJobName"]}]


def test_unknown_best_training_job_raises_training_job_lookup_failed(
    app: ModuleType, sagemaker_client: Any, description: dict[str, Any]
) -> None:
    """No such training job in the account: a named error carrying SageMaker's code and the job's name."""
    with pytest.raises(best_job.TrainingJobLookupFailed) as raised:
        app.lambda_handler(event_of(description), None)

    assert isinstance(raised.value.__cause__, ClientError)
    assert raised.value.__cause__.response["Error"]["Code"] == "ValidationException"
    assert "ValidationException" in str(raised.value)
    assert description["BestTrainingJob"]["TrainingJobName"] in str(raised.value)


# --- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "type_name"),
    [(None, "NoneType"), ("Completed", "str"), ([{"HyperParameterTuningJobName": "x"}], "list"), (1, "int")],
)
def test_event_that_is_not_an_object_raises_invalid_tuning_job_description(
    app: ModuleType, event: Any, type_name: str
) -> None:
    with pytest.raises(best_job.InvalidTuningJobDescription, match=type_name) as raised:
        app.lambda_handler(event, None)

    assert raised.type is best_job.InvalidTuningJobDescription


def test_empty_event_raises_invalid_tuning_job_description(app: ModuleType) -> None:
    with pytest.raises(best_job.InvalidTuningJobDescription, match=r'the event must be \{"tuning"'):
        app.lambda_handler({}, None)


@pytest.mark.parametrize(
    "value", [pytest.param(..., id="missing"), None, "", 42, True, ["job"], {"name": "job"}]
)
def test_bad_tuning_job_name_raises_invalid_tuning_job_description(
    app: ModuleType, description: dict[str, Any], value: Any
) -> None:
    if value is ...:
        del description["HyperParameterTuningJobName"]
    else:
        description["HyperParameterTuningJobName"] = value

    with pytest.raises(best_job.InvalidTuningJobDescription) as raised:
        app.lambda_handler(event_of(description), None)

    assert raised.type is best_job.InvalidTuningJobDescription
    assert "event.tuning.HyperParameterTuningJobName" in str(raised.value)


@pytest.mark.parametrize(
    ("value", "type_name"),
    [("job-013-1a2b3c4d", "str"), ([{"TrainingJobName": "x"}], "list"), (7, "int"), (True, "bool")],
)
def test_best_training_job_of_wrong_type_raises_invalid_tuning_job_description(
    app: ModuleType, description: dict[str, Any], value: Any, type_name: str
) -> None:
    description["BestTrainingJob"] = value

    with pytest.raises(best_job.InvalidTuningJobDescription) as raised:
        app.lambda_handler(event_of(description), None)

    assert raised.type is best_job.InvalidTuningJobDescription
    assert "event.BestTrainingJob" in str(raised.value)
    assert type_name in str(raised.value)


@pytest.mark.parametrize(
    "value", [pytest.param(..., id="missing"), None, "", 13, False, ["job"], {"name": "job"}]
)
def test_bad_best_training_job_name_raises_invalid_tuning_job_description(
    app: ModuleType, description: dict[str, Any], value: Any
) -> None:
    if value is ...:
        del description["BestTrainingJob"]["TrainingJobName"]
    else:
        description["BestTrainingJob"]["TrainingJobName"] = value

    with pytest.raises(best_job.InvalidTuningJobDescription) as raised:
        app.lambda_handler(event_of(description), None)

    assert raised.type is best_job.InvalidTuningJobDescription
    assert "event.BestTrainingJob.TrainingJobName" in str(raised.value)


def test_empty_best_training_job_raises_invalid_tuning_job_description(
    app: ModuleType, description: dict[str, Any]
) -> None:
    description["BestTrainingJob"] = {}

    with pytest.raises(best_job.InvalidTuningJobDescription, match="TrainingJobName"):
        app.lambda_handler(event_of(description), None)


@pytest.mark.parametrize("value", ["validation:rmse", ["validation:rmse", 1.1], 1.1, True])
def test_objective_metric_that_is_not_an_object_raises_invalid_tuning_job_description(
    app: ModuleType, description: dict[str, Any], value: Any
) -> None:
    description["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"] = value

    with pytest.raises(
        best_job.InvalidTuningJobDescription, match="FinalHyperParameterTuningJobObjectiveMetric"
    ):
        app.lambda_handler(event_of(description), None)


@pytest.mark.parametrize("value", ["1.10694", True, False, [1.1], {"value": 1.1}])
def test_objective_value_that_is_not_a_number_raises_invalid_tuning_job_description(
    app: ModuleType, description: dict[str, Any], value: Any
) -> None:
    description["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] = value

    with pytest.raises(best_job.InvalidTuningJobDescription) as raised:
        app.lambda_handler(event_of(description), None)

    assert raised.type is best_job.InvalidTuningJobDescription
    assert "FinalHyperParameterTuningJobObjectiveMetric.Value" in str(raised.value)


@pytest.mark.parametrize("value", ["eta=0.1", ["eta", "0.1"], 0.1, None])
def test_tuned_hyperparameters_that_are_not_an_object_raise_invalid_tuning_job_description(
    app: ModuleType, description: dict[str, Any], value: Any
) -> None:
    description["BestTrainingJob"]["TunedHyperParameters"] = value

    with pytest.raises(best_job.InvalidTuningJobDescription, match="TunedHyperParameters"):
        app.lambda_handler(event_of(description), None)


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(4, "int"), (0.13, "float"), (None, "NoneType"), (True, "bool"), (["4"], "list"), ({"v": "4"}, "dict")],
)
def test_tuned_hyperparameter_that_is_not_a_string_raises_invalid_tuning_job_description(
    app: ModuleType, description: dict[str, Any], value: Any, type_name: str
) -> None:
    description["BestTrainingJob"]["TunedHyperParameters"]["max_depth"] = value

    with pytest.raises(best_job.InvalidTuningJobDescription) as raised:
        app.lambda_handler(event_of(description), None)

    assert raised.type is best_job.InvalidTuningJobDescription
    assert "TunedHyperParameters.max_depth" in str(raised.value)
    assert type_name in str(raised.value)
