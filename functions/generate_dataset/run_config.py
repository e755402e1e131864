"""The run's configuration: the template's defaults (from the state machine), the execution input over them.

The first state's Payload carries ``defaults``, built from the template's DefinitionSubstitutions, so every
default still lives in a template parameter. ``build_config`` checks both and returns the ``config`` object
the later states read (``$.config.tuning``, ``$.config.training``, ``$.config.transform``,
``$.config.qualityGate``). Bad defaults are a deployment problem (ConfigurationError); a bad input key is the
caller's (InvalidExecutionInput, naming the key).
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


# The template's AllowedValues (tests/unit/test_run_config.py keeps them equal).
TRAINING_INSTANCE_TYPES = (
    "ml.m5.large",
    "ml.m5.xlarge",
    "ml.m5.2xlarge",
    "ml.m5.4xlarge",
    "ml.c5.xlarge",
    "ml.c5.2xlarge",
    "ml.c5.4xlarge",
    "ml.m4.xlarge",
)
TRANSFORM_INSTANCE_TYPES = (
    "ml.m5.large",
    "ml.m5.xlarge",
    "ml.m5.2xlarge",
    "ml.c5.xlarge",
    "ml.c5.2xlarge",
    "ml.m4.xlarge",
)
# Grid is not offered: it needs categorical-only ranges, and the definition's ranges are numeric.
STRATEGIES = ("Bayesian", "Random", "Hyperband")
DEFAULT_STRATEGY = "Bayesian"
# SageMaker limits a training job (MaxRuntimeInSeconds, and so a spot job's wait) to 28 days.
MAX_TRAINING_SECONDS = 28 * 24 * 3600
# A spot job may wait for capacity as long as it may run: MaxWaitTimeInSeconds = 2 x MaxRuntimeInSeconds.
SPOT_WAIT_FACTOR = 2

# Input key -> (type, minimum, maximum) for the numbers.
_INPUT_NUMBERS: dict[str, tuple[type, float, float]] = {
    "maxTrainingJobs": (int, 1, 100),
    "maxParallelTrainingJobs": (int, 1, 10),
    "maxTrainingJobsNotImproving": (int, 3, 100),
    "trainingInstanceCount": (int, 1, 8),
}
_INPUT_ENUMS: dict[str, tuple[str, ...]] = {
    "strategy": STRATEGIES,
    "trainingInstanceType": TRAINING_INSTANCE_TYPES,
    "transformInstanceType": TRANSFORM_INSTANCE_TYPES,
}
_INPUT_BOOLEANS = ("spot", "qualityGate")
CONFIG_KEYS = (*_INPUT_NUMBERS, *_INPUT_ENUMS, *_INPUT_BOOLEANS, "maxTestRmse")

# Defaults key (the Payload's "defaults", one per template parameter) -> its kind.
_DEFAULT_INTEGERS = (
    "maxTrainingJobs",
    "maxParallelTrainingJobs",
    "maxTrainingJobsNotImproving",
    "maxTuningRuntimeSeconds",
    "maxTrainingJobRuntimeSeconds",
    "trainingInstanceCount",
)
DEFAULT_KEYS = (
    *_DEFAULT_INTEGERS,
    "trainingInstanceType",
    "transformInstanceType",
    "spot",
    "qualityGate",
    "maxTestRmse",
    "qualityGateNoiseFactor",
)


def _show(value: Any) -> str:
    return json.dumps(value)[:80]


def _whole_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or value.is_integer()


def parse_defaults(defaults: Any) -> dict[str, Any]:
    """The template's defaults as the state machine sends them, checked; raises ConfigurationError."""
    if not isinstance(defaults, Mapping):
        raise ConfigurationError(
            "the event has no 'defaults' object: the state machine sends it (deploy the template's "
            "definition)"
        )
    missing = [key for key in DEFAULT_KEYS if key not in defaults]
    if missing:
        raise ConfigurationError(
            f"the event's defaults miss {', '.join(missing)}: deploy the template's definition"
        )
    parsed: dict[str, Any] = {}
    for key in _DEFAULT_INTEGERS:
        value = defaults[key]
        if not _whole_number(value) or value < 1:
            raise ConfigurationError(
                f"defaults.{key} must be a whole number of at least 1, got {_show(value)}"
            )
        parsed[key] = int(value)
    for key, allowed in (
        ("trainingInstanceType", TRAINING_INSTANCE_TYPES),
        ("transformInstanceType", TRANSFORM_INSTANCE_TYPES),
    ):
        if defaults[key] not in allowed:
            raise ConfigurationError(
                f"defaults.{key} must be one of {', '.join(allowed)}, got {_show(defaults[key])}"
            )
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


def parse_config_input(execution_input: Mapping[str, Any]) -> dict[str, Any]:
    """The tuning, instance, cost and gate keys of the execution input, checked; absent keys are left out."""
    values: dict[str, Any] = {}
    for key, (_, low, high) in _INPUT_NUMBERS.items():
        if key not in execution_input:
            continue
        value = execution_input[key]
        if not _whole_number(value):
            raise InvalidExecutionInput(f"'{key}' must be a whole number, got {_show(value)}")
        if not low <= value <= high:
            raise InvalidExecutionInput(f"'{key}' must be between {low:g} and {high:g}, got {value}")
        values[key] = int(value)
    for key, allowed in _INPUT_ENUMS.items():
        if key in execution_input:
            value = execution_input[key]
            if value not in allowed:
                raise InvalidExecutionInput(
                    f"'{key}' must be one of {', '.join(allowed)}, got {_show(value)}"
                )
            values[key] = value
    for key in _INPUT_BOOLEANS:
        if key in execution_input:
            value = execution_input[key]
            if not isinstance(value, bool):
                raise InvalidExecutionInput(f"'{key}' must be true or false, got {_show(value)}")
            values[key] = value
    if "maxTestRmse" in execution_input:
        value = execution_input["maxTestRmse"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidExecutionInput(f"'maxTestRmse' must be a number, got {_show(value)}")
        # The comparison alone also rejects NaN; an infinite threshold would switch the gate off unsaid.
        if not (value > 0 and math.isfinite(value)):
            raise InvalidExecutionInput(f"'maxTestRmse' must be a finite number above 0, got {value}")
        values["maxTestRmse"] = float(value)
    return values


def build_config(
    defaults: Mapping[str, Any], overrides: Mapping[str, Any], run_prefix_uri: str
) -> dict[str, Any]:
    """The run's configuration: ``overrides`` (parsed input) over ``defaults`` (parsed template values).

    ``run_prefix_uri`` (the run's ``s3://bucket/runs/<run name>/``) is not used yet: no CheckpointConfig is
    sent. A tuning job passes one CheckpointConfig to all its training jobs, and the built-in XGBoost
    resumes from the checkpoints it finds at start; whether SageMaker keeps each training job's checkpoints
    apart under that URI is not documented, and a job resuming from another's model would corrupt the
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
    runtime = min(merged["maxTrainingJobRuntimeSeconds"], MAX_TRAINING_SECONDS)
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": runtime}
    if merged["spot"]:
        stopping["MaxWaitTimeInSeconds"] = min(SPOT_WAIT_FACTOR * runtime, MAX_TRAINING_SECONDS)
    threshold = overrides.get("maxTestRmse", defaults["maxTestRmse"])
    if "maxTestRmse" in overrides:
        source = "input"
    elif defaults["maxTestRmse"] is not None:
        source = "template"
    else:
        source = None
    return {
        "tuning": {
            "strategy": strategy,
            # Hyperband stops jobs itself; SageMaker refuses it with TrainingJobEarlyStoppingType Auto.
            "earlyStoppingType": "Off" if strategy == "Hyperband" else "Auto",
            "resourceLimits": {
                "MaxNumberOfTrainingJobs": jobs,
                "MaxParallelTrainingJobs": parallel,
                "MaxRuntimeInSeconds": merged["maxTuningRuntimeSeconds"],
            },
            "completionCriteria": {
                "BestObjectiveNotImproving": {
                    "MaxNumberOfTrainingJobsNotImproving": merged["maxTrainingJobsNotImproving"]
                }
            },
        },
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
            "maxRmse": threshold,
            "source": source,
            "noiseFactor": defaults["qualityGateNoiseFactor"],
        },
    }
