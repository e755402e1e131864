"""The run's config: template defaults and the definition's search space from the state machine, the execution
input over them, the tuning job's config as sent, the training volume, named errors."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import run_config
from execution_input import validate_execution_input
from friedman import MAX_LABELLED_LINE_BYTES, friedman1_batch, labelled_lines

from offline.template import ROOT
from tests.conftest import load_event

SCHEMA = json.loads((ROOT / "schema" / "execution-input.schema.json").read_text(encoding="utf-8"))
GB = 1024**3


@pytest.fixture
def defaults() -> dict[str, Any]:
    return load_event("generate_dataset")["defaults"]


@pytest.fixture
def search() -> dict[str, Any]:
    return load_event("generate_dataset")["search"]


def config_for(defaults: dict[str, Any], execution_input: dict[str, Any], **kwargs: Any) -> Any:
    return run_config.build_config(
        run_config.parse_defaults(defaults),
        run_config.parse_config_input(validate_execution_input(execution_input)),
        run_config.parse_search(load_event("generate_dataset")["search"]),
        **kwargs,
    )


def test_template_defaults_give_a_bayesian_on_demand_single_instance_run_with_the_gate_on(
    defaults: dict[str, Any], search: dict[str, Any]
) -> None:
    config = config_for(defaults, {})

    assert config == {
        "tuning": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": search["HyperParameterTuningJobObjective"],
            "ParameterRanges": search["ParameterRanges"],
            "RandomSeed": search["RandomSeed"],
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": 10,
                "MaxParallelTrainingJobs": 4,
                "MaxRuntimeInSeconds": 7200,
            },
            "TrainingJobEarlyStoppingType": "Auto",
            "TuningJobCompletionCriteria": {
                "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 10}
            },
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


def test_every_input_key_overrides_its_default(defaults: dict[str, Any]) -> None:
    config = config_for(
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
    assert tuning["Strategy"] == "Random" and tuning["TrainingJobEarlyStoppingType"] == "Auto"
    assert tuning["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 6
    assert tuning["ResourceLimits"]["MaxParallelTrainingJobs"] == 3
    criteria = tuning["TuningJobCompletionCriteria"]["BestObjectiveNotImproving"]
    assert criteria["MaxNumberOfTrainingJobsNotImproving"] == 4
    assert "StrategyConfig" not in tuning, "SageMaker accepts StrategyConfig with Hyperband only"
    assert (training["instanceType"], training["instanceCount"]) == ("ml.c5.xlarge", 2)
    assert training["trainDistribution"] == "ShardedByS3Key", "several instances share the training files"
    assert training["enableManagedSpotTraining"] is True
    # A spot job may wait for capacity as long as it may run.
    assert training["stoppingCondition"] == {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600}
    assert config["transform"] == {"instanceType": "ml.m5.xlarge"}
    assert config["qualityGate"] == {"enabled": False, "maxRmse": 2.0, "source": "input", "noiseFactor": 1.5}


def test_hyperband_sends_its_strategy_config_turns_early_stopping_off_and_has_no_not_improving_criterion(
    defaults: dict[str, Any], search: dict[str, Any]
) -> None:
    tuning = config_for(defaults, {"strategy": "Hyperband", "maxTrainingJobsNotImproving": 5})["tuning"]

    assert (tuning["Strategy"], tuning["TrainingJobEarlyStoppingType"]) == ("Hyperband", "Off")
    assert tuning["StrategyConfig"] == search["StrategyConfig"]
    # Its early rungs stop jobs by design: counted as "not improving" they would end the search early.
    assert "TuningJobCompletionCriteria" not in tuning


@pytest.mark.parametrize(
    ("template_count", "execution_input"),
    [
        (1, {"strategy": "Hyperband", "trainingInstanceCount": 2}),
        (3, {"strategy": "Hyperband"}),
    ],
)
def test_hyperband_with_several_training_instances_is_refused_saying_why(
    defaults: dict[str, Any], template_count: int, execution_input: dict[str, Any]
) -> None:
    with pytest.raises(run_config.InvalidExecutionInput) as caught:
        config_for({**defaults, "trainingInstanceCount": template_count}, execution_input)

    message = str(caught.value)
    assert message.startswith("strategy Hyperband with trainingInstanceCount ")
    assert "reports the same metrics" in message and "Use trainingInstanceCount 1 with Hyperband" in message


def test_template_threshold_and_spot_default_come_from_the_template(defaults: dict[str, Any]) -> None:
    config = config_for({**defaults, "maxTestRmse": "1.5", "spot": True}, {})

    assert config["qualityGate"]["maxRmse"] == 1.5 and config["qualityGate"]["source"] == "template"
    assert config["training"]["stoppingCondition"]["MaxWaitTimeInSeconds"] == 3600
    # The input's threshold wins over the template's.
    overridden = config_for({**defaults, "maxTestRmse": "1.5"}, {"maxTestRmse": 0.5})
    assert overridden["qualityGate"]["maxRmse"] == 0.5 and overridden["qualityGate"]["source"] == "input"


def test_spot_wait_stays_within_sagemakers_28_days(defaults: dict[str, Any]) -> None:
    config = config_for({**defaults, "maxTrainingJobRuntimeSeconds": 20 * 24 * 3600}, {"spot": True})

    assert config["training"]["stoppingCondition"]["MaxWaitTimeInSeconds"] == 28 * 24 * 3600


def test_fewer_jobs_than_the_templates_parallelism_run_all_at_once(defaults: dict[str, Any]) -> None:
    limits = config_for(defaults, {"maxTrainingJobs": 2})["tuning"]["ResourceLimits"]
    assert (limits["MaxNumberOfTrainingJobs"], limits["MaxParallelTrainingJobs"]) == (2, 2)
    # The same for template parameters (MaxParallelTrainingJobs 4, MaxTrainingJobs 2).
    limits = config_for({**defaults, "maxTrainingJobs": 2}, {})["tuning"]["ResourceLimits"]
    assert (limits["MaxNumberOfTrainingJobs"], limits["MaxParallelTrainingJobs"]) == (2, 2)


def test_input_parallelism_above_the_templates_job_count_is_refused(defaults: dict[str, Any]) -> None:
    with pytest.raises(run_config.InvalidExecutionInput, match=r"'maxParallelTrainingJobs' \(5\) must not"):
        config_for({**defaults, "maxTrainingJobs": 3}, {"maxParallelTrainingJobs": 5})


def test_input_values_are_taken_in_the_configs_types() -> None:
    parsed = run_config.parse_config_input({"maxTrainingJobs": 6.0, "maxTestRmse": 2, "trainRows": 500})

    assert parsed == {"maxTrainingJobs": 6, "maxTestRmse": 2.0}
    assert isinstance(parsed["maxTrainingJobs"], int) and isinstance(parsed["maxTestRmse"], float)


def test_infinite_threshold_is_refused_before_it_switches_the_gate_off() -> None:
    with pytest.raises(
        run_config.InvalidExecutionInput, match="maxTestRmse must be a finite number, got inf"
    ):
        validate_execution_input({"maxTestRmse": math.inf})


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"maxTrainingJobs": "20"}, "defaults.maxTrainingJobs must be a whole number of at least 1"),
        ({"maxTuningRuntimeSeconds": 0}, "defaults.maxTuningRuntimeSeconds must be a whole number"),
        (
            {"trainingInstanceType": "${TrainingInstanceType}"},
            "defaults.trainingInstanceType must be an instance",
        ),
        ({"spot": "false"}, "defaults.spot must be true or false"),
        ({"qualityGate": True}, "defaults.qualityGate must be Enabled or Disabled"),
        ({"maxTestRmse": "abc"}, "defaults.maxTestRmse must be empty or a number above 0"),
        ({"maxTestRmse": "0"}, "defaults.maxTestRmse must be empty or a number above 0"),
        ({"qualityGateNoiseFactor": 0.5}, "defaults.qualityGateNoiseFactor must be a number from 1 to 100"),
    ],
)
def test_bad_defaults_are_a_configuration_error(
    defaults: dict[str, Any], change: dict[str, Any], words: str
) -> None:
    with pytest.raises(run_config.ConfigurationError, match=words.replace("$", r"\$")):
        run_config.parse_defaults({**defaults, **change})


@pytest.mark.parametrize("value", [None, [], "x"])
@pytest.mark.parametrize("key", ["defaults", "search"])
def test_missing_defaults_or_search_object_is_a_configuration_error(key: str, value: Any) -> None:
    parse = run_config.parse_defaults if key == "defaults" else run_config.parse_search
    with pytest.raises(run_config.ConfigurationError, match=f"the event has no '{key}' object"):
        parse(value)


def test_a_missing_default_or_search_key_is_named(defaults: dict[str, Any], search: dict[str, Any]) -> None:
    del defaults["qualityGateNoiseFactor"], defaults["spot"], search["StrategyConfig"]

    with pytest.raises(run_config.ConfigurationError, match="miss spot, qualityGateNoiseFactor"):
        run_config.parse_defaults(defaults)
    with pytest.raises(run_config.ConfigurationError, match="search miss StrategyConfig"):
        run_config.parse_search(search)


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


@pytest.mark.parametrize("name", ["generate_dataset", "generate_dataset_overrides"])
def test_events_send_the_definitions_search_space(
    state_machine_definition: dict[str, Any], name: str
) -> None:
    payload = state_machine_definition["States"]["Generate Training Dataset"]["Parameters"]["Payload"]
    assert load_event(name)["search"] == payload["search"]
    assert set(payload["search"]) == set(run_config.SEARCH_KEYS)


def test_the_longest_generated_line_bounds_every_written_line() -> None:
    import random

    rng = random.Random(11)
    labels, lines, _ = friedman1_batch(1_000, rng, 100.0)  # the schema's largest noise
    written = labelled_lines(labels, lines).splitlines(keepends=True)
    assert max(len(line) for line in written) <= MAX_LABELLED_LINE_BYTES


def test_training_volume_is_the_minimum_for_small_data_and_grows_with_the_data() -> None:
    assert run_config.training_volume_gb(10_000 * 103, 2_000 * 103, 1, 1) == run_config.MIN_VOLUME_GB
    assert run_config.training_volume_gb(20 * GB, 2 * GB, 1, 1) == 22 + run_config.VOLUME_HEADROOM_GB
    # Four files over two instances: each downloads half the training data and all the validation data.
    assert run_config.training_volume_gb(20 * GB, 2 * GB, 4, 2) == 12 + run_config.VOLUME_HEADROOM_GB
    # Three files over two instances: one instance gets two of them.
    assert run_config.training_volume_gb(30 * GB, 0, 3, 2) == 20 + run_config.VOLUME_HEADROOM_GB


@pytest.mark.parametrize("instance_key", ["minimum", "maximum"])
def test_generated_data_at_the_schemas_limits_gets_a_volume_that_holds_it(
    load_handler: Callable[[str], ModuleType], bucket: str, s3_client: Any, instance_key: str
) -> None:
    """The largest input the schema allows is only planned (shards) by the first state: cheap to run here."""
    largest = {
        key: SCHEMA["properties"][key]["maximum"] for key in ("trainRows", "validationRows", "testRows")
    }
    instances = SCHEMA["properties"]["trainingInstanceCount"][instance_key]
    event = {**load_event("generate_dataset"), "input": {**largest, "trainingInstanceCount": instances}}

    result = load_handler("generate_dataset").lambda_handler(event, None)

    shards = result["dataset"]["shards"]
    train_bytes = largest["trainRows"] * MAX_LABELLED_LINE_BYTES
    validation_bytes = largest["validationRows"] * MAX_LABELLED_LINE_BYTES
    files_per_instance = -(-len(shards) // instances)
    needed = train_bytes * files_per_instance / len(shards) + validation_bytes
    volume = result["config"]["training"]["volumeSizeInGB"]
    assert volume * GB >= needed + run_config.VOLUME_HEADROOM_GB * GB
    if instances == 1:
        assert volume > 5, "the largest data set does not fit the former constant 5 GB"
    assert s3_client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0, "a plan writes nothing"


def test_default_run_keeps_the_minimum_volume(load_handler: Callable[[str], ModuleType], bucket: str) -> None:
    result = load_handler("generate_dataset").lambda_handler(load_event("generate_dataset"), None)

    assert result["config"]["training"]["volumeSizeInGB"] == run_config.MIN_VOLUME_GB


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
    assert result["config"]["tuning"]["TrainingJobEarlyStoppingType"] == "Off"
    assert "checkpointConfig" not in result["config"]["training"]

    event = load_event("generate_dataset")
    event["execution"]["name"] = "another"
    event["input"] = {"maxTrainingJobs": 2, "maxParallelTrainingJobs": 3}
    with pytest.raises(app.InvalidExecutionInput, match="maxParallelTrainingJobs must be <= maxTrainingJobs"):
        app.lambda_handler(event, None)
    written = s3_client.list_objects_v2(Bucket=bucket, Prefix="runs/")["Contents"]
    assert all(item["Key"].startswith(result["dataset"]["prefix"]) for item in written)


@pytest.mark.parametrize("key", ["defaults", "search"])
def test_handler_without_defaults_or_search_is_a_configuration_error(
    load_handler: Callable[[str], ModuleType], bucket: str, key: str
) -> None:
    app = load_handler("generate_dataset")
    event = load_event("generate_dataset")
    del event[key]

    with pytest.raises(app.ConfigurationError, match=f"'{key}'"):
        app.lambda_handler(event, None)
