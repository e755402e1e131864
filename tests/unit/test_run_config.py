"""The run's config: template defaults from the state machine, the execution input over them, named errors."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import FUNCTIONS_DIR, load_event

RUN_PREFIX = "s3://bucket/runs/run-0123456789ab/"


@pytest.fixture
def run_config(load_handler: Callable[[str], ModuleType]) -> ModuleType:
    """The module the handler imports (loading the handler puts its directory on sys.path)."""
    load_handler("generate_dataset")
    module = sys.modules["run_config"]
    assert module.__file__ == str(FUNCTIONS_DIR / "generate_dataset" / "run_config.py")
    return module


@pytest.fixture
def defaults() -> dict[str, Any]:
    return load_event("generate_dataset")["defaults"]


def config_for(run_config: ModuleType, defaults: dict[str, Any], execution_input: dict[str, Any]) -> Any:
    return run_config.build_config(
        run_config.parse_defaults(defaults), run_config.parse_config_input(execution_input), RUN_PREFIX
    )


def test_template_defaults_give_a_bayesian_on_demand_single_instance_run_with_the_gate_on(
    run_config: ModuleType, defaults: dict[str, Any]
) -> None:
    config = config_for(run_config, defaults, {})

    assert config == {
        "tuning": {
            "strategy": "Bayesian",
            "earlyStoppingType": "Auto",
            "resourceLimits": {
                "MaxNumberOfTrainingJobs": 20,
                "MaxParallelTrainingJobs": 4,
                "MaxRuntimeInSeconds": 7200,
            },
            "completionCriteria": {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 10}},
        },
        "training": {
            "instanceType": "ml.m5.large",
            "instanceCount": 1,
            "trainDistribution": "FullyReplicated",
            "enableManagedSpotTraining": False,
            "stoppingCondition": {"MaxRuntimeInSeconds": 1800},
        },
        "transform": {"instanceType": "ml.m5.large"},
        "qualityGate": {"enabled": True, "maxRmse": None, "source": None, "noiseFactor": 1.5},
    }


def test_every_input_key_overrides_its_default(run_config: ModuleType, defaults: dict[str, Any]) -> None:
    config = config_for(
        run_config,
        defaults,
        {
            "maxTrainingJobs": 6,
            "maxParallelTrainingJobs": 3,
            "strategy": "Random",
            "maxTrainingJobsNotImproving": 4,
            "trainingInstanceType": "ml.c5.xlarge",
            "transformInstanceType": "ml.m5.xlarge",
            "trainingInstanceCount": 2,
            "spot": True,
            "qualityGate": False,
            "maxTestRmse": 2,
        },
    )

    tuning, training = config["tuning"], config["training"]
    assert tuning["strategy"] == "Random" and tuning["earlyStoppingType"] == "Auto"
    assert tuning["resourceLimits"]["MaxNumberOfTrainingJobs"] == 6
    assert tuning["resourceLimits"]["MaxParallelTrainingJobs"] == 3
    assert (
        tuning["completionCriteria"]["BestObjectiveNotImproving"]["MaxNumberOfTrainingJobsNotImproving"] == 4
    )
    assert (training["instanceType"], training["instanceCount"]) == ("ml.c5.xlarge", 2)
    assert training["trainDistribution"] == "ShardedByS3Key", "several instances share the training files"
    assert training["enableManagedSpotTraining"] is True
    # A spot job may wait for capacity as long as it may run.
    assert training["stoppingCondition"] == {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600}
    assert config["transform"] == {"instanceType": "ml.m5.xlarge"}
    assert config["qualityGate"] == {"enabled": False, "maxRmse": 2.0, "source": "input", "noiseFactor": 1.5}


def test_hyperband_turns_early_stopping_off(run_config: ModuleType, defaults: dict[str, Any]) -> None:
    tuning = config_for(run_config, defaults, {"strategy": "Hyperband"})["tuning"]

    assert (tuning["strategy"], tuning["earlyStoppingType"]) == ("Hyperband", "Off")


def test_template_threshold_and_spot_default_come_from_the_template(
    run_config: ModuleType, defaults: dict[str, Any]
) -> None:
    config = config_for(run_config, {**defaults, "maxTestRmse": "1.5", "spot": True}, {})

    assert config["qualityGate"]["maxRmse"] == 1.5 and config["qualityGate"]["source"] == "template"
    assert config["training"]["stoppingCondition"]["MaxWaitTimeInSeconds"] == 3600
    # The input's threshold wins over the template's.
    overridden = config_for(run_config, {**defaults, "maxTestRmse": "1.5"}, {"maxTestRmse": 0.5})
    assert overridden["qualityGate"]["maxRmse"] == 0.5 and overridden["qualityGate"]["source"] == "input"


def test_spot_wait_stays_within_sagemakers_28_days(run_config: ModuleType, defaults: dict[str, Any]) -> None:
    config = config_for(
        run_config, {**defaults, "maxTrainingJobRuntimeSeconds": 20 * 24 * 3600}, {"spot": True}
    )

    assert config["training"]["stoppingCondition"]["MaxWaitTimeInSeconds"] == 28 * 24 * 3600


def test_fewer_jobs_than_the_templates_parallelism_run_all_at_once(
    run_config: ModuleType, defaults: dict[str, Any]
) -> None:
    limits = config_for(run_config, defaults, {"maxTrainingJobs": 2})["tuning"]["resourceLimits"]
    assert (limits["MaxNumberOfTrainingJobs"], limits["MaxParallelTrainingJobs"]) == (2, 2)
    # The same for template parameters (MaxParallelTrainingJobs 4, MaxTrainingJobs 2).
    limits = config_for(run_config, {**defaults, "maxTrainingJobs": 2}, {})["tuning"]["resourceLimits"]
    assert (limits["MaxNumberOfTrainingJobs"], limits["MaxParallelTrainingJobs"]) == (2, 2)


@pytest.mark.parametrize(
    ("execution_input", "words"),
    [
        ({"maxTrainingJobs": 0}, "'maxTrainingJobs' must be between 1 and 100, got 0"),
        ({"maxTrainingJobs": 101}, "'maxTrainingJobs' must be between 1 and 100, got 101"),
        ({"maxTrainingJobs": 2.5}, "'maxTrainingJobs' must be a whole number, got 2.5"),
        ({"maxTrainingJobs": "5"}, "'maxTrainingJobs' must be a whole number, got \"5\""),
        ({"maxTrainingJobs": True}, "'maxTrainingJobs' must be a whole number, got true"),
        ({"maxParallelTrainingJobs": 11}, "'maxParallelTrainingJobs' must be between 1 and 10, got 11"),
        (
            {"maxTrainingJobs": 3, "maxParallelTrainingJobs": 4},
            "'maxParallelTrainingJobs' (4) must not exceed",
        ),
        (
            {"maxTrainingJobsNotImproving": 2},
            "'maxTrainingJobsNotImproving' must be between 3 and 100, got 2",
        ),
        ({"trainingInstanceCount": 9}, "'trainingInstanceCount' must be between 1 and 8, got 9"),
        ({"strategy": "Grid"}, "'strategy' must be one of Bayesian, Random, Hyperband, got \"Grid\""),
        ({"strategy": "bayesian"}, "'strategy' must be one of"),
        ({"trainingInstanceType": "ml.p3.2xlarge"}, "'trainingInstanceType' must be one of ml.m5.large"),
        ({"transformInstanceType": "ml.m5.4xlarge"}, "'transformInstanceType' must be one of ml.m5.large"),
        ({"spot": "true"}, "'spot' must be true or false, got \"true\""),
        ({"qualityGate": 1}, "'qualityGate' must be true or false, got 1"),
        ({"maxTestRmse": 0}, "'maxTestRmse' must be a finite number above 0, got 0"),
        ({"maxTestRmse": -1.5}, "'maxTestRmse' must be a finite number above 0, got -1.5"),
        ({"maxTestRmse": math.inf}, "'maxTestRmse' must be a finite number above 0, got inf"),
        ({"maxTestRmse": math.nan}, "'maxTestRmse' must be a finite number above 0, got nan"),
        ({"maxTestRmse": "1.2"}, "'maxTestRmse' must be a number, got \"1.2\""),
    ],
)
def test_bad_input_is_an_invalid_execution_input_naming_the_key(
    run_config: ModuleType, defaults: dict[str, Any], execution_input: dict[str, Any], words: str
) -> None:
    with pytest.raises(run_config.InvalidExecutionInput) as caught:
        config_for(run_config, defaults, execution_input)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"maxTrainingJobs": "20"}, "defaults.maxTrainingJobs must be a whole number of at least 1"),
        ({"maxTuningRuntimeSeconds": 0}, "defaults.maxTuningRuntimeSeconds must be a whole number"),
        ({"trainingInstanceType": "${TrainingInstanceType}"}, "defaults.trainingInstanceType must be one of"),
        ({"spot": "false"}, "defaults.spot must be true or false"),
        ({"qualityGate": True}, "defaults.qualityGate must be Enabled or Disabled"),
        ({"maxTestRmse": "abc"}, "defaults.maxTestRmse must be empty or a number above 0"),
        ({"maxTestRmse": "0"}, "defaults.maxTestRmse must be empty or a number above 0"),
        ({"qualityGateNoiseFactor": 0.5}, "defaults.qualityGateNoiseFactor must be a number from 1 to 100"),
    ],
)
def test_bad_defaults_are_a_configuration_error(
    run_config: ModuleType, defaults: dict[str, Any], change: dict[str, Any], words: str
) -> None:
    with pytest.raises(run_config.ConfigurationError, match=words.replace("$", r"\$")):
        run_config.parse_defaults({**defaults, **change})


@pytest.mark.parametrize("defaults_value", [None, [], "x"])
def test_missing_defaults_object_is_a_configuration_error(
    run_config: ModuleType, defaults_value: Any
) -> None:
    with pytest.raises(run_config.ConfigurationError, match="the event has no 'defaults' object"):
        run_config.parse_defaults(defaults_value)


def test_a_missing_default_is_named(run_config: ModuleType, defaults: dict[str, Any]) -> None:
    del defaults["qualityGateNoiseFactor"], defaults["spot"]

    with pytest.raises(run_config.ConfigurationError, match="miss spot, qualityGateNoiseFactor"):
        run_config.parse_defaults(defaults)


def test_instance_types_are_the_templates_allowed_values(
    run_config: ModuleType, template: dict[str, Any]
) -> None:
    parameters = template["Parameters"]
    assert list(run_config.TRAINING_INSTANCE_TYPES) == parameters["TrainingInstanceType"]["AllowedValues"]
    assert list(run_config.TRANSFORM_INSTANCE_TYPES) == parameters["TransformInstanceType"]["AllowedValues"]


def test_defaults_file_matches_the_template_defaults(
    template: dict[str, Any], defaults: dict[str, Any]
) -> None:
    """generate_dataset.json (events/functions/GenerateDatasetFunction/) sends what the state machine sends
    for a stack with default parameters."""
    parameters = {name: spec["Default"] for name, spec in template["Parameters"].items()}
    assert defaults == {
        "maxTrainingJobs": parameters["MaxTrainingJobs"],
        "maxParallelTrainingJobs": parameters["MaxParallelTrainingJobs"],
        "maxTrainingJobsNotImproving": parameters["MaxTrainingJobsNotImproving"],
        "maxTuningRuntimeSeconds": parameters["MaxTuningRuntimeSeconds"],
        "maxTrainingJobRuntimeSeconds": parameters["MaxTrainingJobRuntimeSeconds"],
        "trainingInstanceType": parameters["TrainingInstanceType"],
        "transformInstanceType": parameters["TransformInstanceType"],
        "trainingInstanceCount": parameters["TrainingInstanceCount"],
        "spot": parameters["UseSpotTraining"] == "true",
        "qualityGate": parameters["QualityGate"],
        "maxTestRmse": parameters["MaxTestRmse"],
        "qualityGateNoiseFactor": parameters["QualityGateNoiseFactor"],
    }


def test_handler_returns_input_config_and_dataset_and_writes_nothing_for_a_bad_combination(
    load_handler: Callable[[str], ModuleType], bucket: str, s3_client: Any
) -> None:
    app = load_handler("generate_dataset")
    event = load_event("generate_dataset")
    event["input"] = {
        "trainRows": 200,
        "validationRows": 50,
        "testRows": 50,
        "strategy": "Hyperband",
        "spot": True,
    }

    result = app.lambda_handler(event, None)

    assert set(result) == {"input", "config", "dataset"}
    assert result["input"]["strategy"] == "Hyperband" and result["input"]["spot"] is True
    assert result["config"]["tuning"]["earlyStoppingType"] == "Off"
    assert "checkpointConfig" not in result["config"]["training"]

    event = load_event("generate_dataset")
    event["execution"]["name"] = "another"
    event["input"] = {"maxTrainingJobs": 2, "maxParallelTrainingJobs": 3}
    with pytest.raises(app.InvalidExecutionInput, match="maxParallelTrainingJobs must be <= maxTrainingJobs"):
        app.lambda_handler(event, None)
    written = s3_client.list_objects_v2(Bucket=bucket, Prefix="runs/")["Contents"]
    assert all(item["Key"].startswith(result["dataset"]["prefix"]) for item in written)


def test_handler_without_defaults_is_a_configuration_error(
    load_handler: Callable[[str], ModuleType], bucket: str
) -> None:
    app = load_handler("generate_dataset")
    event = load_event("generate_dataset")
    del event["defaults"]

    with pytest.raises(app.ConfigurationError, match="'defaults'"):
        app.lambda_handler(event, None)
