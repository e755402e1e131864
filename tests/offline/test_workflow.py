"""The workflow, end to end on moto's Step Functions engine: the happy path and its inputs.

Each test runs the real ``statemachine/tuning.asl.json`` with the template's substitutions, the real
handlers and the SageMaker emulator, and checks the execution history (states entered, attempts, task
failures) and the final output or error, not only the status.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from offline.engine import Engine
from tests.conftest import load_event
from tests.offline.conftest import FEW_JOBS, SMALL_INPUT
from tests.offline.workflow_support import (
    HAPPY_PATH,
    TASKS,
    TUNING,
    UUID,
    rmse,
    task_output,
)


def test_default_input_tunes_a_model_that_predicts_near_the_noise_floor(
    make_engine: Callable[..., Engine], sagemaker_events: list[tuple[str, dict[str, Any]]]
) -> None:
    """The console's default input, {"Comment": "Insert your JSON here"}, with the template's defaults:
    10,000 rows, 10 training jobs. The Comment is ignored (not echoed in the output's input)."""
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
    assert jobs == 10
    counters = tuning["trainingJobStatusCounters"]
    finished = [data for event, data in sagemaker_events if event == "training_job_completed"]
    # BestObjectiveNotImproving may end the search before the last job (at 10 it cannot end it sooner).
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
