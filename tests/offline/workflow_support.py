"""What the offline workflow tests share: the states of the happy path, and readers of a run's history
and output."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from offline.engine import Engine

HAPPY_PATH = [
    "Generate Training Dataset",
    "Dataset Sharded?",
    "Warm Start?",
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
    "Warm Start?",
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


THROTTLED = "SageMaker.AmazonSageMakerException"  # ThrottlingException is no modelled SageMaker error
OVER_LIMIT = "SageMaker.ResourceLimitExceededException"
