"""The workflow, end to end on moto's Step Functions engine: the quality gate, cost controls, tuning
strategies, stopped training jobs and account quotas.

Each test runs the real ``statemachine/tuning.asl.json`` with the template's substitutions, the real
handlers and the SageMaker emulator, and checks the execution history (states entered, attempts, task
failures) and the final output or error, not only the status.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from offline.engine import Engine
from tests.offline.conftest import FEW_JOBS, SMALL_INPUT, STOP_AFTER_ROUND
from tests.offline.workflow_support import (
    HAPPY_PATH,
    TUNING,
    path_to,
    task_output,
)


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


def test_a_stopped_best_job_with_no_model_fails_the_run_at_the_batch_transform(
    make_engine: Callable[..., Engine],
    broken_definition: Callable[..., Any],
    every_job_stopped: list[int],
) -> None:
    """Without save_model_on_termination the run fails where AWS would: the model data exists (empty), so
    Extract Model Path and CreateModel succeed, and the transform job cannot load a model."""
    path = broken_definition(
        '"save_model_on_termination": "true"', '"save_model_on_termination": "false"', times=2
    )
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
