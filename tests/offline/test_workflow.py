"""The workflow, end to end on moto's Step Functions engine: every path of the definition.

Each test runs the real ``statemachine/tuning.asl.json`` with the template's substitutions, the real
handlers and the SageMaker emulator, and checks the execution history (states entered, attempts, task
failures) and the final output or error, not only the status.
"""

from __future__ import annotations

import json
import math
import re
import types
from collections.abc import Callable
from typing import Any

import pytest
from moto.stepfunctions.parser.asl.component.common.retry import jitter_strategy_decl

from offline.engine import Engine
from tests.conftest import load_event
from tests.offline.conftest import FEW_JOBS, SMALL_INPUT, STOP_AFTER_ROUND

HAPPY_PATH = [
    "Generate Training Dataset",
    "Dataset Sharded?",
    "HyperparameterTuning (XGBoost)",
    "Extract Model Path",
    "HyperparameterTuning - Save Model",
    "Extract Model Name",
    "Batch transform",
    "Evaluate Model",
    "Registry Approval Status",
    "Approved",
    "Model Registry On?",
    "Register Model",
    "Registry Entry",
    "Quality Gate",
    "Succeeded",
]
CHOICES = (
    "Dataset Sharded?",
    "Registry Approval Status",
    "Approved",
    "Model Registry On?",
    "Registry Entry",
    "Quality Gate",
    "Succeeded",
)
TASKS = [state for state in HAPPY_PATH if state not in CHOICES]
TUNING = "HyperparameterTuning (XGBoost)"


def path_to(state: str, approval: str = "Approved") -> list[str]:
    """The happy path up to and including ``state``, through the registry's ``approval`` state."""
    path = [approval if name == "Approved" else name for name in HAPPY_PATH]
    return path[: path.index(state) + 1]


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@pytest.fixture
def no_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full jitter draws each retry interval from [0, backoff]; this makes it draw the top, the backoff."""
    monkeypatch.setattr(jitter_strategy_decl, "random", types.SimpleNamespace(uniform=lambda low, high: high))


def task_output(result: Any, state: str) -> Any:
    """The result of ``state``'s task (before ResultSelector/ResultPath), from its TaskSucceeded event."""
    owner = result.state_of_event()
    outputs = [
        json.loads(e["taskSucceededEventDetails"]["output"])
        for e in result.history
        if e["type"] == "TaskSucceeded" and owner.get(e["id"]) == state
    ]
    assert len(outputs) == 1, f"{state} succeeded {len(outputs)} times"
    return outputs[0]


def rmse(engine: Engine, output: dict[str, Any]) -> float:
    labels = [
        float(v) for v in engine.read_s3(output["dataset"]["testLabelsUri"] + "test.csv").decode().split()
    ]
    predictions_uri = output["transform"]["outputUri"] + "test.csv.out"
    predictions = [float(v) for v in engine.read_s3(predictions_uri).decode().split()]
    assert len(predictions) == len(labels) == output["dataset"]["rows"]["test"]
    return math.sqrt(sum((p - y) ** 2 for p, y in zip(predictions, labels, strict=True)) / len(labels))


def test_default_input_tunes_a_model_that_predicts_near_the_noise_floor(
    make_engine: Callable[..., Engine], sagemaker_events: list[tuple[str, dict[str, Any]]]
) -> None:
    """The console's default input, {"Comment": "Insert your JSON here"}, with the template's defaults:
    10,000 rows, 20 training jobs. The Comment is ignored (not echoed in the output's input)."""
    engine = make_engine(parameters=None)
    result = engine.run(load_event("execution_input_console_default"))

    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == HAPPY_PATH
    assert UUID.fullmatch(result.name), "the execution is named like a console-started one"
    output = result.output
    assert output["input"] == {
        "trainRows": 10_000,
        "validationRows": 2_000,
        "testRows": 2_000,
        "noise": 1.0,
        "seed": 42,
    }
    tuning = output["tuning"]
    assert len(tuning["tuningJobName"]) <= 32
    jobs = int(engine.stack.parameters["MaxTrainingJobs"])
    assert jobs == 20
    counters = tuning["trainingJobStatusCounters"]
    finished = [data for event, data in sagemaker_events if event == "training_job_completed"]
    # BestObjectiveNotImproving (10 jobs) may end the search before the 20th job.
    assert counters["Completed"] + counters["Stopped"] == len(finished) <= jobs
    assert tuning["bestTrainingJobName"].startswith(tuning["tuningJobName"] + "-")
    assert tuning["objectiveValue"] == min(
        d["objective"]["value"] for d in finished if d["status"] == "Completed"
    )
    # The built-in algorithm with early stopping reaches about 1.1x the floor on this data (make bench).
    floor = output["dataset"]["noiseFloorRmse"]
    assert rmse(engine, output) < 1.3 * floor
    # ... and passes the default quality gate: QualityGateNoiseFactor x the noise floor.
    evaluation = output["evaluation"]
    assert evaluation["rmse"] == pytest.approx(rmse(engine, output))
    assert evaluation["qualityGate"]["enabled"] is True
    assert evaluation["qualityGate"]["source"] == "noiseFloor"
    factor = float(engine.stack.parameters["QualityGateNoiseFactor"])
    assert evaluation["qualityGate"]["threshold"] == pytest.approx(factor * floor, abs=1e-6)
    assert evaluation["rmse"] <= evaluation["qualityGate"]["threshold"]
    stored = json.loads(engine.read_s3(evaluation["metricsUri"]))
    assert stored["rmse"] == evaluation["rmse"] and stored["rows"] == output["input"]["testRows"]


def test_small_run_output_summarises_every_step_and_each_sagemaker_result_has_the_api_shape(
    engine: Engine,
    sagemaker_events: list[tuple[str, dict[str, Any]]],
    api_output_errors: Callable[[Any, str, str], list[str]],
) -> None:
    result = engine.run(SMALL_INPUT)

    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == HAPPY_PATH
    assert result.events("TaskFailed") == []
    assert all(result.attempts(state) == 1 for state in TASKS)
    output = result.output
    dataset, tuning, model, transform = (
        output["dataset"],
        output["tuning"],
        output["model"],
        output["transform"],
    )
    assert output["input"] == {**SMALL_INPUT, "noise": 1.0, "seed": 42}
    assert dataset["bucket"] == engine.bucket
    # Every job name comes from the execution; every object lives under the run's own prefix.
    assert tuning["tuningJobName"] == dataset["tuningJobName"] == dataset["runName"]
    assert transform["transformJobName"] == dataset["transformJobName"]
    prefix = f"s3://{engine.bucket}/{dataset['prefix']}"
    assert (
        tuning["modelDataUrl"]
        == f"{dataset['modelOutputUri']}{tuning['bestTrainingJobName']}/output/model.tar.gz"
    )
    assert engine.list_s3(tuning["modelDataUrl"]) == [tuning["modelDataUrl"]]
    assert transform["outputUri"].startswith(prefix) and transform["inputUri"] == dataset["testUri"]
    assert model["modelName"] == tuning["bestTrainingJobName"]
    assert model["modelArn"].endswith(":model/" + model["modelName"])
    assert transform["status"] == "Completed"
    # The best job is the one the emulator reported best, with the hyperparameters the definition tunes.
    finished = [data for event, data in sagemaker_events if event == "training_job_completed"]
    assert len(finished) == FEW_JOBS["MaxTrainingJobs"]
    best = min(
        (d for d in finished if d["objective"]["value"] is not None), key=lambda d: d["objective"]["value"]
    )
    assert tuning["bestTrainingJobName"] == best["name"]
    assert tuning["objectiveMetric"] == "validation:rmse"
    assert tuning["objectiveValue"] == pytest.approx(best["objective"]["value"])
    search = engine.definition["States"]["Generate Training Dataset"]["Parameters"]["Payload"]["search"]
    ranges = search["ParameterRanges"]
    assert set(tuning["hyperparameters"]) == {item["Name"] for kind in ranges.values() for item in kind}
    assert math.isfinite(rmse(engine, output))
    # What the SageMaker tasks returned is what Step Functions returns: the API's shapes, timestamps in ms.
    assert (
        api_output_errors(task_output(result, TUNING), "sagemaker", "DescribeHyperParameterTuningJob") == []
    )
    assert (
        api_output_errors(
            task_output(result, "HyperparameterTuning - Save Model"), "sagemaker", "CreateModel"
        )
        == []
    )
    assert (
        api_output_errors(task_output(result, "Batch transform"), "sagemaker", "DescribeTransformJob") == []
    )


def test_events_input_file_with_overrides_runs_and_echoes_the_overrides(engine: Engine) -> None:
    overrides = json.loads(
        (engine.template_path.parent / "events" / "execution_input_overrides.json").read_text()
    )

    result = engine.run({**overrides, "trainRows": 500})

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["input"] == {**overrides, "trainRows": 500}
    rows = {"train": 500, "validation": overrides["validationRows"], "test": overrides["testRows"]}
    assert result.output["dataset"]["rows"] == rows
    assert result.output["dataset"]["noise"] == overrides["noise"]


@pytest.mark.parametrize(
    ("execution_input", "message"),
    [
        ({"trainRows": 5}, "trainRows must be >= 100, got 5"),
        ({"rows": 300}, "unknown key 'rows' in the execution input; allowed keys: trainRows"),
        ({"strategy": "Grid"}, 'strategy must be one of Bayesian, Random, Hyperband, got "Grid"'),
        (
            {"maxTrainingJobs": 2, "maxParallelTrainingJobs": 3},
            "maxParallelTrainingJobs must be <= maxTrainingJobs (2), got 3",
        ),
        ({"spot": "yes"}, 'spot must be true or false, got "yes"'),
        ({"maxTestRmse": -1}, "maxTestRmse must be > 0, got -1"),
        # Any JSON can be started from the console: a list must reach the same Fail state, not a
        # States.Runtime error from applying the Catch's ResultPath to a non-object.
        ([1, 2], "the execution input must be a JSON object, got list"),
        ("tune", "the execution input must be a JSON object, got str"),
    ],
)
def test_invalid_execution_input_fails_in_the_invalid_input_state_with_the_handlers_error(
    engine: Engine, execution_input: Any, message: str
) -> None:
    result = engine.run(execution_input)

    assert result.status == "FAILED"
    assert result.states_entered() == ["Generate Training Dataset", "Invalid Execution Input"]
    assert result.error == "InvalidExecutionInput"
    cause = json.loads(result.cause)
    assert cause["errorType"] == "InvalidExecutionInput"
    assert message in cause["errorMessage"]
    # The runtime's stack trace, starting in the handler (no frame of the offline runner).
    assert "lambda_handler" in cause["stackTrace"][0]
    assert all("offline/engine.py" not in frame for frame in cause["stackTrace"])
    # A handler error is not a Lambda service error: no retry.
    assert result.attempts("Generate Training Dataset") == 1
    assert engine.list_s3(f"s3://{engine.bucket}/runs/") == []


def test_every_training_job_failing_fails_the_tuning_state_with_sagemakers_reasons(engine: Engine) -> None:
    engine.sagemaker.fail_training_jobs_when(lambda name, hyperparameters: "AlgorithmError: out of memory")

    result = engine.run(SMALL_INPUT)

    assert result.status == "FAILED"
    assert result.states_entered() == [*path_to(TUNING), "Tuning Failed"]
    assert result.error == "States.TaskFailed"
    description = json.loads(result.cause)  # the DescribeHyperParameterTuningJob response
    assert description["HyperParameterTuningJobStatus"] == "Failed"
    assert "No training job succeeded" in description["FailureReason"]
    assert description["TrainingJobStatusCounters"]["NonRetryableError"] == 3
    assert "BestTrainingJob" not in description
    # A failed job is caught, never retried: a second create would collide on the job name.
    assert result.attempts(TUNING) == 1
    assert [f["error"] for f in result.task_failures(TUNING)] == ["States.TaskFailed"]


@pytest.mark.parametrize(
    ("function", "state", "code"),
    [
        ("GenerateDatasetFunction", "Generate Training Dataset", "ServiceException"),
        ("ExtractModelNameFunction", "Extract Model Name", "TooManyRequestsException"),
    ],
)
def test_transient_lambda_service_error_is_retried_with_backoff_then_succeeds(
    engine: Engine, no_jitter: None, function: str, state: str, code: str
) -> None:
    engine.inject_lambda_fault(function, code, times=2)

    result = engine.run(SMALL_INPUT)

    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == HAPPY_PATH
    assert result.attempts(state) == 3
    failures = result.task_failures(state)
    assert [f["error"] for f in failures] == [f"Lambda.{code}"] * 2
    assert all("(Service: AWSLambda; Status Code: " in f["cause"] for f in failures)
    # IntervalSeconds 2, BackoffRate 2.0 (the engine's sleeps are scaled down, the intervals are not).
    assert engine.retry_sleeps == [2.0, 4.0]
    assert result.output["model"]["modelName"] == result.output["tuning"]["bestTrainingJobName"]


THROTTLED = "SageMaker.AmazonSageMakerException"  # ThrottlingException is no modelled SageMaker error
OVER_LIMIT = "SageMaker.ResourceLimitExceededException"


@pytest.mark.parametrize(
    ("operation", "state", "code", "error", "sleeps"),
    [
        ("CreateHyperParameterTuningJob", TUNING, "ThrottlingException", THROTTLED, [5, 10]),
        ("CreateModel", "HyperparameterTuning - Save Model", "ThrottlingException", THROTTLED, [5, 10]),
        ("CreateTransformJob", "Batch transform", "ResourceLimitExceeded", OVER_LIMIT, [60, 120]),
    ],
)
def test_sagemaker_create_throttled_or_over_limit_is_retried_with_backoff_then_succeeds(
    engine: Engine, no_jitter: None, operation: str, state: str, code: str, error: str, sleeps: list[float]
) -> None:
    engine.sagemaker.inject_fault(operation, code, times=2)

    result = engine.run(SMALL_INPUT)

    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == HAPPY_PATH
    assert result.attempts(state) == 3
    failures = result.task_failures(state)
    assert [f["error"] for f in failures] == [error, error]
    assert all(
        f"Error Code: {code};" in f["cause"] and "Service: AmazonSageMaker" in f["cause"] for f in failures
    )
    assert engine.retry_sleeps == sleeps
    assert result.output["transform"]["status"] == "Completed"


def test_failed_transform_job_is_caught_into_batch_transform_failed_with_the_reason(engine: Engine) -> None:
    engine.sagemaker.fail_transform_job("ClientError: the model could not read the input")

    result = engine.run(SMALL_INPUT)

    assert result.status == "FAILED"
    assert result.states_entered() == [*path_to("Batch transform"), "Batch Transform Failed"]
    assert result.error == "States.TaskFailed"
    description = json.loads(result.cause)  # the DescribeTransformJob response
    assert description["TransformJobStatus"] == "Failed"
    assert "the model could not read the input" in description["FailureReason"]
    assert result.attempts("Batch transform") == 1
    # The Fail state got the run's state with the caught error beside it.
    fail_input = json.loads(result.events("FailStateEntered")[0]["stateEnteredEventDetails"]["input"])
    assert fail_input["error"]["Error"] == "States.TaskFailed"
    assert fail_input["dataset"]["transformJobName"] == description["TransformJobName"]


# --- A mistake in the definition or a handler fails the offline run with a message that points at it ---


def test_misspelled_jsonpath_fails_the_run_naming_the_path_and_the_state(
    make_engine: Callable[..., Engine],
    broken_definition: Callable[..., Any],
    sagemaker_events: list[tuple[str, dict[str, Any]]],
) -> None:
    engine = make_engine(definition_path=broken_definition('"$.dataset.trainUri"', '"$.dataset.trainUrl"'))

    result = engine.run(SMALL_INPUT)

    assert result.status == "FAILED"
    # States.Runtime is not caught by States.ALL (as on AWS): the execution fails in the state itself.
    assert result.states_entered() == path_to(TUNING)
    assert result.error == "States.Runtime"
    assert f"executing the state '{TUNING}'" in result.cause
    assert "The JSONPath '$.dataset.trainUrl' could not be found" in result.cause
    assert sagemaker_events == [], "no tuning job may start"


def test_tuning_job_name_over_32_characters_fails_with_sagemakers_validation_message(
    make_engine: Callable[..., Engine], broken_definition: Callable[..., Any]
) -> None:
    path = broken_definition(
        '"HyperParameterTuningJobName.$": "$.dataset.tuningJobName"',
        '"HyperParameterTuningJobName.$": "States.Format(\'{}-tuning\', $.dataset.tuningJobName)"',
    )
    engine = make_engine(definition_path=path)

    result = engine.run(SMALL_INPUT)

    assert result.status == "FAILED"
    assert result.states_entered() == [*path_to(TUNING), "Tuning Failed"]
    assert result.error == "SageMaker.AmazonSageMakerException"
    assert re.search(
        r"Value '[0-9a-z-]+-tuning' at 'hyperParameterTuningJobName' failed to satisfy constraint: "
        r"Member must have length less than or equal to 32",
        result.cause,
    ), result.cause
    assert "Error Code: ValidationException" in result.cause
    # SageMaker names a ValidationException like a throttle (AmazonSageMakerException): the definition's
    # Retry tries it 4 more times before the Catch.
    assert result.attempts(TUNING) == 5


def test_handler_output_missing_a_key_fails_the_run_naming_the_key_and_the_state(
    make_engine: Callable[..., Engine], broken_function: Callable[[str, str, str], Any]
) -> None:
    code = broken_function(
        "extract_model_name",
        'return {"modelName": name, "modelArn": arn}',
        'return {"name": name, "modelArn": arn}',
    )
    engine = make_engine(function_code={"ExtractModelNameFunction": code})

    result = engine.run(SMALL_INPUT)

    assert result.status == "FAILED"
    assert result.states_entered() == path_to("Extract Model Name")
    assert result.error == "States.Runtime"
    assert "executing the state 'Extract Model Name'" in result.cause
    assert "The JSONPath '$.Payload.modelName' could not be found" in result.cause


# --- Quality gate, cost controls, strategies ------------------------------------------------------------


def _request(engine: Engine, result: Any, state: str) -> dict[str, Any]:
    (request,) = [
        r.parameters
        for r in engine.sagemaker_requests
        if r.execution_arn == result.execution_arn and r.state == state
    ]
    return request


def test_a_test_rmse_above_the_inputs_threshold_fails_the_run_naming_metric_value_and_threshold(
    engine: Engine,
) -> None:
    result = engine.run({**SMALL_INPUT, "maxTestRmse": 0.01})

    assert result.status == "FAILED"
    assert result.states_entered() == [
        *path_to("Quality Gate", "Rejected"),
        "Describe Quality Failure",
        "Model Below Quality Bar",
    ]
    assert result.error == "QualityGateFailed"
    fail_input = json.loads(result.events("FailStateEntered")[0]["stateEnteredEventDetails"]["input"])
    evaluation = fail_input["evaluation"]
    assert result.cause == (
        f"test RMSE {evaluation['qualityGate']['rmse']} is above the threshold 0.01 (maxTestRmse of the "
        f"execution input); metrics in {evaluation['metricsUri']}"
    )
    assert evaluation["qualityGate"]["rmse"] == round(evaluation["rmse"], 4) > 0.01
    # The metrics stay in S3 for the person who reads the cause.
    assert json.loads(engine.read_s3(evaluation["metricsUri"]))["rmse"] == evaluation["rmse"]


def test_a_template_threshold_fails_the_run_and_says_it_came_from_the_template(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine(parameters={**FEW_JOBS, "MaxTestRmse": "0.05"})

    result = engine.run(SMALL_INPUT)

    assert (result.status, result.error) == ("FAILED", "QualityGateFailed")
    assert "is above the threshold 0.05 (MaxTestRmse template parameter)" in result.cause


def test_the_input_switches_the_gate_off(engine: Engine) -> None:
    result = engine.run({**SMALL_INPUT, "maxTestRmse": 0.01, "qualityGate": False})

    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == path_to("Succeeded", "Pending Manual Approval")
    gate = result.output["evaluation"]["qualityGate"]
    assert (gate["enabled"], gate["threshold"], gate["basis"]) == (
        False,
        None,
        "the quality gate is switched off",
    )
    assert result.output["config"]["qualityGate"]["maxRmse"] == 0.01


def test_the_template_switches_the_gate_off_and_the_input_on_again(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine(parameters={**FEW_JOBS, "QualityGate": "Disabled", "MaxTestRmse": "0.01"})

    off = engine.run(SMALL_INPUT)
    on = engine.run({**SMALL_INPUT, "qualityGate": True})

    assert off.status == "SUCCEEDED", off.cause
    assert off.output["evaluation"]["qualityGate"]["enabled"] is False
    assert (on.status, on.error) == ("FAILED", "QualityGateFailed")


@pytest.mark.parametrize(
    ("parameters", "execution_input"),
    [({"UseSpotTraining": "true"}, {}), ({}, {"spot": True})],
    ids=["template", "input"],
)
def test_spot_training_sends_spot_settings_and_no_shared_checkpoints(
    make_engine: Callable[..., Engine], parameters: dict[str, str], execution_input: dict[str, Any]
) -> None:
    engine = make_engine(parameters={**FEW_JOBS, **parameters})

    result = engine.run({**SMALL_INPUT, **execution_input})

    assert result.status == "SUCCEEDED", result.cause
    definition = _request(engine, result, TUNING)["TrainingJobDefinition"]
    runtime = int(engine.stack.parameters["MaxTrainingJobRuntimeSeconds"])
    assert definition["EnableManagedSpotTraining"] is True
    assert definition["StoppingCondition"] == {
        "MaxRuntimeInSeconds": runtime,
        "MaxWaitTimeInSeconds": 2 * runtime,
    }
    assert "CheckpointConfig" not in definition
    job = engine.sagemaker.describe_training_job(
        TrainingJobName=result.output["tuning"]["bestTrainingJobName"]
    )
    assert job["EnableManagedSpotTraining"] is True
    assert job["BillableTimeInSeconds"] <= job["TrainingTimeInSeconds"]


def test_on_demand_is_the_default(engine: Engine) -> None:
    result = engine.run(SMALL_INPUT)

    definition = _request(engine, result, TUNING)["TrainingJobDefinition"]
    assert definition["EnableManagedSpotTraining"] is False
    assert "MaxWaitTimeInSeconds" not in definition["StoppingCondition"]
    assert "CheckpointConfig" not in definition
    config = _request(engine, result, TUNING)["HyperParameterTuningJobConfig"]
    assert "StrategyConfig" not in config, "SageMaker accepts StrategyConfig with Hyperband only"


def test_hyperband_runs_in_the_tuning_state_with_its_strategy_config_and_early_stopping_off(
    engine: Engine,
) -> None:
    result = engine.run({**SMALL_INPUT, "strategy": "Hyperband"})

    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == HAPPY_PATH
    config = _request(engine, result, TUNING)["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Hyperband" and config["TrainingJobEarlyStoppingType"] == "Off"
    assert config["StrategyConfig"] == {"HyperbandStrategyConfig": {"MinResource": 10, "MaxResource": 1000}}
    assert "TuningJobCompletionCriteria" not in config, "Hyperband's early rungs would count as not improving"
    assert result.output["tuning"]["tuningJobStatus"] == "Completed"


def test_random_strategy_from_the_input_reaches_the_tuning_job(engine: Engine) -> None:
    result = engine.run({**SMALL_INPUT, "strategy": "Random", "maxTrainingJobs": 2})

    assert result.status == "SUCCEEDED", result.cause
    config = _request(engine, result, TUNING)["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Random" and config["TrainingJobEarlyStoppingType"] == "Auto"
    assert config["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 2
    assert config["ResourceLimits"]["MaxParallelTrainingJobs"] == 1


def test_best_objective_not_improving_ends_the_search_before_max_training_jobs(
    engine: Engine, sagemaker_events: list[tuple[str, dict[str, Any]]]
) -> None:
    result = engine.run({**SMALL_INPUT, "maxTrainingJobs": 30, "maxTrainingJobsNotImproving": 3})

    assert result.status == "SUCCEEDED", result.cause
    launched = [data for event, data in sagemaker_events if event == "training_job_started"]
    assert 4 <= len(launched) < 30
    description = task_output(result, TUNING)
    assert description["TuningJobCompletionDetails"]["NumberOfTrainingJobsObjectiveNotImproving"] == 3
    assert description["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"] == {
        "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}
    }


def test_instance_types_and_count_from_the_input_reach_the_jobs(engine: Engine) -> None:
    result = engine.run(
        {**SMALL_INPUT, "trainingInstanceType": "ml.c5.xlarge", "transformInstanceType": "ml.m5.xlarge"}
    )

    assert result.status == "SUCCEEDED", result.cause
    resources = _request(engine, result, TUNING)["TrainingJobDefinition"]["ResourceConfig"]
    assert resources == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5}
    channel = _request(engine, result, TUNING)["TrainingJobDefinition"]["InputDataConfig"][0]
    assert channel["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "FullyReplicated"
    assert _request(engine, result, "Batch transform")["TransformResources"]["InstanceType"] == "ml.m5.xlarge"


def test_predictions_that_cannot_be_evaluated_fail_in_evaluation_failed(
    make_engine: Callable[..., Engine],
) -> None:
    holder: dict[str, Engine] = {}

    def remove_labels(event: str, data: dict[str, Any]) -> None:
        if event == "transform_job_completed":
            engine = holder["engine"]
            for uri in engine.list_s3(f"s3://{engine.bucket}/runs/"):
                if "/test-labels/" in uri:
                    engine.s3.delete_object(
                        Bucket=engine.bucket, Key=uri.removeprefix(f"s3://{engine.bucket}/")
                    )

    holder["engine"] = engine = make_engine(sagemaker_listener=remove_labels)

    result = engine.run(SMALL_INPUT)

    assert result.status == "FAILED"
    assert result.states_entered() == [*path_to("Evaluate Model"), "Evaluation Failed"]
    assert result.error == "EvaluationDataNotFound"
    assert "no labels file under s3://" in json.loads(result.cause)["errorMessage"]
    assert result.attempts("Evaluate Model") == 1


# --- Stopped training jobs and account quotas ---------------------------------------------------------


def test_a_stopped_best_job_with_no_model_fails_the_run_at_the_batch_transform(
    make_engine: Callable[..., Engine],
    broken_definition: Callable[..., Any],
    every_job_stopped: list[int],
) -> None:
    """Without save_model_on_termination the run fails where AWS would: the model data exists (empty), so
    Extract Model Path and CreateModel succeed, and the transform job cannot load a model."""
    path = broken_definition('"save_model_on_termination": "true"', '"save_model_on_termination": "false"')
    engine = make_engine(definition_path=path)

    result = engine.run(SMALL_INPUT)

    assert result.status == "FAILED"
    assert result.states_entered() == [*path_to("Batch transform"), "Batch Transform Failed"]
    assert result.error == "States.TaskFailed"
    description = json.loads(result.cause)
    assert description["TransformJobStatus"] == "Failed"
    assert "model.tar.gz holds no model file" in description["FailureReason"]
    assert every_job_stopped and set(every_job_stopped) == {STOP_AFTER_ROUND}


def test_the_definitions_static_hyperparameters_give_a_stopped_best_job_a_model(
    engine: Engine, every_job_stopped: list[int]
) -> None:
    result = engine.run(SMALL_INPUT)

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["transform"]["status"] == "Completed"
    assert every_job_stopped and set(every_job_stopped) == {STOP_AFTER_ROUND}


def test_an_account_quota_still_refusing_after_the_short_retry_says_what_to_change(engine: Engine) -> None:
    engine.sagemaker.inject_fault("CreateHyperParameterTuningJob", "ResourceLimitExceeded", times=3)

    result = engine.run(SMALL_INPUT)

    assert result.status == "FAILED"
    assert result.states_entered()[-2:] == [TUNING, "SageMaker Quota Exceeded"]
    assert result.attempts(TUNING) == 3
    assert result.error == "SageMaker.ResourceLimitExceededException"
    assert result.cause.startswith("SageMaker refused the request on an account quota")
    assert "Service Quotas" in result.cause
    # SageMaker's own message and details follow, naming the quota.
    assert "Error Code: ResourceLimitExceeded;" in result.cause
