"""The run's configuration: the template's defaults (from the state machine), the execution input over them.

The first state's Payload carries ``defaults`` (one value per template parameter, from the template's
DefinitionSubstitutions) and ``search`` (the definition's search space: objective, parameter ranges, seed and
Hyperband's resources). ``build_config`` merges the schema-checked input over the defaults and returns the
``config`` the later states read: ``$.config.tuning`` is the HyperParameterTuningJobConfig as sent,
``$.config.training``, ``$.config.transform`` and ``$.config.qualityGate`` the rest. Bounds and value lists
of the input live in the schema only; bad defaults are a deployment problem (ConfigurationError); a bad
combination of input keys is the caller's (InvalidExecutionInput).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

# One class for every check of the input (schema and run config): the state machine catches it by name.
from execution_input import InvalidExecutionInput


class ConfigurationError(RuntimeError):
    """The function's environment or the defaults the template sends are incomplete or invalid."""


DEFAULT_STRATEGY = "Bayesian"
# SageMaker limits a training job (MaxRuntimeInSeconds, and so a spot job's wait) to 28 days.
MAX_TRAINING_SECONDS = 28 * 24 * 3600
# A spot job may wait for capacity as long as it may run: MaxWaitTimeInSeconds = 2 x MaxRuntimeInSeconds.
SPOT_WAIT_FACTOR = 2
# The training volume holds the input channels as File mode downloads them, the model and the job's output:
# the data an instance reads, rounded up to whole GB, plus this much, and never less than the minimum.
VOLUME_HEADROOM_GB = 1
MIN_VOLUME_GB = 5
_GB = 1024**3

# The execution input keys the config takes; the schema has already checked each of them.
CONFIG_KEYS = (
    "maxTrainingJobs",
    "maxParallelTrainingJobs",
    "maxTrainingJobsNotImproving",
    "trainingInstanceCount",
    "strategy",
    "trainingInstanceType",
    "transformInstanceType",
    "spot",
    "qualityGate",
    "maxTestRmse",
)
# Defaults key (the Payload's "defaults", one per template parameter) -> its kind.
_DEFAULT_INTEGERS = (
    "maxTrainingJobs",
    "maxParallelTrainingJobs",
    "maxTrainingJobsNotImproving",
    "maxTuningRuntimeSeconds",
    "maxTrainingJobRuntimeSeconds",
    "trainingInstanceCount",
)
_DEFAULT_STRINGS = ("trainingInstanceType", "transformInstanceType")
DEFAULT_KEYS = (
    *_DEFAULT_INTEGERS,
    *_DEFAULT_STRINGS,
    "spot",
    "qualityGate",
    "maxTestRmse",
    "qualityGateNoiseFactor",
)
# What the definition's ``search`` must hold (SageMaker's names, sent as they are).
SEARCH_KEYS = ("HyperParameterTuningJobObjective", "ParameterRanges", "RandomSeed", "StrategyConfig")


def _show(value: Any) -> str:
    return json.dumps(value)[:80]


def _whole_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or value.is_integer()


def _event_object(value: Any, key: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"the event has no '{key}' object: the state machine sends it (deploy the template's definition)"
        )
    missing = [name for name in keys if name not in value]
    if missing:
        raise ConfigurationError(
            f"the event's {key} miss {', '.join(missing)}: deploy the template's definition"
        )
    return value


def parse_defaults(defaults: Any) -> dict[str, Any]:
    """The template's defaults as the state machine sends them, in the config's types.

    CloudFormation has checked each parameter against its AllowedValues and bounds; this checks only that a
    value has the type the config needs (a definition deployed by hand could send anything).
    """
    defaults = _event_object(defaults, "defaults", DEFAULT_KEYS)
    parsed: dict[str, Any] = {}
    for key in _DEFAULT_INTEGERS:
        value = defaults[key]
        if not _whole_number(value) or value < 1:
            raise ConfigurationError(
                f"defaults.{key} must be a whole number of at least 1, got {_show(value)}"
            )
        parsed[key] = int(value)
    for key in _DEFAULT_STRINGS:
        if not isinstance(defaults[key], str) or not defaults[key].startswith("ml."):
            raise ConfigurationError(f"defaults.{key} must be an instance type, got {_show(defaults[key])}")
        parsed[key] = defaults[key]
    if not isinstance(defaults["spot"], bool):
        raise ConfigurationError(f"defaults.spot must be true or false, got {_show(defaults['spot'])}")
    parsed["spot"] = defaults["spot"]
    if defaults["qualityGate"] not in ("Enabled", "Disabled"):
        raise ConfigurationError(
            f"defaults.qualityGate must be Enabled or Disabled, got {_show(defaults['qualityGate'])}"
        )
    parsed["qualityGate"] = defaults["qualityGate"] == "Enabled"
    # MaxTestRmse is a String parameter: "" means no threshold (a number as text otherwise).
    raw = defaults["maxTestRmse"]
    if raw in ("", None):
        parsed["maxTestRmse"] = None
    else:
        try:
            number = float(raw)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(raw, bool) or not (math.isfinite(number) and number > 0):
            raise ConfigurationError(
                f"defaults.maxTestRmse must be empty or a number above 0, got {_show(raw)}"
            )
        parsed["maxTestRmse"] = number
    factor = defaults["qualityGateNoiseFactor"]
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 1 <= factor <= 100:
        raise ConfigurationError(
            f"defaults.qualityGateNoiseFactor must be a number from 1 to 100, got {_show(factor)}"
        )
    parsed["qualityGateNoiseFactor"] = float(factor)
    return parsed


def parse_search(search: Any) -> dict[str, Any]:
    """The definition's search space (``search`` in the Payload), as the tuning job will send it."""
    return dict(_event_object(search, "search", SEARCH_KEYS))


def parse_config_input(execution_input: Mapping[str, Any]) -> dict[str, Any]:
    """The run's keys of a schema-checked execution input (absent keys left out), in the config's types."""
    values = {key: execution_input[key] for key in CONFIG_KEYS if key in execution_input}
    if "maxTestRmse" in values:
        values["maxTestRmse"] = float(values["maxTestRmse"])
    return {key: int(v) if isinstance(v, float) and key != "maxTestRmse" else v for key, v in values.items()}


def _tuning_job_config(
    search: Mapping[str, Any], strategy: str, merged: Mapping[str, Any], parallel: int
) -> dict[str, Any]:
    """The HyperParameterTuningJobConfig: the definition's search space and the run's choices."""
    config: dict[str, Any] = {
        "Strategy": strategy,
        "HyperParameterTuningJobObjective": search["HyperParameterTuningJobObjective"],
        "ParameterRanges": search["ParameterRanges"],
        "RandomSeed": search["RandomSeed"],
        "ResourceLimits": {
            "MaxNumberOfTrainingJobs": merged["maxTrainingJobs"],
            "MaxParallelTrainingJobs": parallel,
            "MaxRuntimeInSeconds": merged["maxTuningRuntimeSeconds"],
        },
    }
    if strategy == "Hyperband":
        # SageMaker accepts StrategyConfig with Hyperband only, and refuses Hyperband with early stopping
        # Auto (it stops jobs itself). No BestObjectiveNotImproving: Hyperband's early rungs, cut short by
        # design, would count as jobs that did not improve and end the search before its later rungs.
        config["StrategyConfig"] = search["StrategyConfig"]
        config["TrainingJobEarlyStoppingType"] = "Off"
    else:
        config["TrainingJobEarlyStoppingType"] = "Auto"
        config["TuningJobCompletionCriteria"] = {
            "BestObjectiveNotImproving": {
                "MaxNumberOfTrainingJobsNotImproving": merged["maxTrainingJobsNotImproving"]
            }
        }
    return config


def build_config(
    defaults: Mapping[str, Any],
    overrides: Mapping[str, Any],
    search: Mapping[str, Any],
    *,
    own_data: bool = False,
) -> dict[str, Any]:
    """The run's configuration: ``overrides`` (the input's keys) over ``defaults`` (the template's values).

    Raises InvalidExecutionInput for a combination of keys no tuning job could run. The training volume is
    left to ``with_training_volume``, once the data's size is known.

    No CheckpointConfig is sent: a tuning job passes one to all its training jobs, and the built-in XGBoost
    resumes from the checkpoints it finds at start; a job resuming from another's model would corrupt the
    search silently. An interrupted spot job therefore restarts from the beginning (short jobs here).
    """
    merged = {**defaults, **{k: v for k, v in overrides.items() if k in defaults}}
    jobs, parallel = merged["maxTrainingJobs"], merged["maxParallelTrainingJobs"]
    if parallel > jobs:
        if "maxParallelTrainingJobs" in overrides:
            raise InvalidExecutionInput(
                f"'maxParallelTrainingJobs' ({parallel}) must not exceed maxTrainingJobs ({jobs})"
            )
        # Fewer jobs than the parallelism the template allows: run them all at once.
        parallel = jobs
    strategy = overrides.get("strategy", DEFAULT_STRATEGY)
    count = merged["trainingInstanceCount"]
    _check_combination(strategy, count, overrides, merged, own_data)
    runtime = min(merged["maxTrainingJobRuntimeSeconds"], MAX_TRAINING_SECONDS)
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": runtime}
    if merged["spot"]:
        stopping["MaxWaitTimeInSeconds"] = min(SPOT_WAIT_FACTOR * runtime, MAX_TRAINING_SECONDS)
    if "maxTestRmse" in overrides:
        source = "input"
    elif defaults["maxTestRmse"] is not None:
        source = "template"
    else:
        source = None
    return {
        "tuning": _tuning_job_config(search, strategy, merged, parallel),
        "training": {
            "instanceType": merged["trainingInstanceType"],
            "instanceCount": count,
            # One instance reads everything; several each read their share of the files.
            "trainDistribution": "FullyReplicated" if count == 1 else "ShardedByS3Key",
            "enableManagedSpotTraining": merged["spot"],
            "stoppingCondition": stopping,
        },
        "transform": {"instanceType": merged["transformInstanceType"]},
        "qualityGate": {
            "enabled": merged["qualityGate"],
            "maxRmse": merged["maxTestRmse"],
            "source": source,
            "noiseFactor": defaults["qualityGateNoiseFactor"],
        },
    }


def _check_combination(
    strategy: str, count: int, overrides: Mapping[str, Any], merged: Mapping[str, Any], own_data: bool
) -> None:
    if strategy == "Hyperband" and count > 1:
        raise InvalidExecutionInput(
            f"strategy Hyperband with trainingInstanceCount {count}: every instance of a training job "
            "reports the same metrics, and Hyperband, which judges a job by the metric it reports each "
            "round, would see each round several times. Use trainingInstanceCount 1 with Hyperband, or "
            "another strategy."
        )
    if not own_data:
        return
    if count > 1:
        raise InvalidExecutionInput(
            f"trainingInstanceCount is {count}, but your own training data is one file and instances share "
            "the training files by S3 key (ShardedByS3Key): the other instances would get no data. Use "
            "trainingInstanceCount 1 with your own data."
        )
    if overrides.get("qualityGate") is True and merged["maxTestRmse"] is None:
        raise InvalidExecutionInput(
            "qualityGate is true, but your own data has no noise floor to derive a threshold from: set "
            "maxTestRmse in the execution input (or the MaxTestRmse template parameter)"
        )


def training_volume_gb(train_bytes: int, validation_bytes: int, train_files: int, instance_count: int) -> int:
    """VolumeSizeInGB for training data of this size: each instance downloads its share of the training
    files (every file with one instance, ShardedByS3Key with several) and the whole validation channel."""
    files_per_instance = -(-train_files // instance_count)
    per_instance = train_bytes * files_per_instance / max(train_files, 1) + validation_bytes
    return max(MIN_VOLUME_GB, math.ceil(per_instance / _GB) + VOLUME_HEADROOM_GB)


def with_training_volume(config: Mapping[str, Any], volume_gb: int) -> dict[str, Any]:
    return {**config, "training": {**config["training"], "volumeSizeInGB": volume_gb}}
