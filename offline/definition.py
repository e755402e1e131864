"""The checks Step Functions makes before it accepts a definition.

statelint's, then those of the optimized SageMaker integration: known actions, ``.sync`` only where it
exists, and only fields of the API's request in Parameters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from offline.errors import DefinitionError
from offline.request_validation import operation_model

# Step Functions' optimized SageMaker integration: the actions it accepts and those it can wait for.
SAGEMAKER_ACTIONS = {
    "createEndpoint",
    "createEndpointConfig",
    "createHyperParameterTuningJob",
    "createLabelingJob",
    "createModel",
    "createProcessingJob",
    "createTrainingJob",
    "createTransformJob",
    "updateEndpoint",
}
# action -> (Describe operation, name key, status key)
SAGEMAKER_SYNC_ACTIONS: dict[str, tuple[str, str, str]] = {
    "createHyperParameterTuningJob": (
        "DescribeHyperParameterTuningJob",
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobStatus",
    ),
    "createLabelingJob": ("DescribeLabelingJob", "LabelingJobName", "LabelingJobStatus"),
    "createProcessingJob": ("DescribeProcessingJob", "ProcessingJobName", "ProcessingJobStatus"),
    "createTrainingJob": ("DescribeTrainingJob", "TrainingJobName", "TrainingJobStatus"),
    "createTransformJob": ("DescribeTransformJob", "TransformJobName", "TransformJobStatus"),
}
_SAGEMAKER_RESOURCE = re.compile(r"arn:[a-z-]+:states:::sagemaker:(?P<action>[A-Za-z]+)(\.(?P<pattern>.+))?")
# The AWS SDK integration: any SageMaker action, request-response only (no .sync).
_SDK_SAGEMAKER_RESOURCE = re.compile(r"arn:[a-z-]+:states:::aws-sdk:sagemaker:(?P<action>[A-Za-z]+)")


def walk_states(
    states: Mapping[str, Any], path: str = "/States"
) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    for name, state in states.items():
        yield name, f"{path}/{name}", state
        for branch_index, branch in enumerate(state.get("Branches") or []):
            yield from walk_states(
                branch.get("States") or {}, f"{path}/{name}/Branches[{branch_index}]/States"
            )
        for key in ("Iterator", "ItemProcessor"):
            if isinstance(state.get(key), Mapping):
                yield from walk_states(state[key].get("States") or {}, f"{path}/{name}/{key}/States")


def validate_definition(definition_text: str, source: str = "definition") -> dict[str, Any]:
    """statelint's checks, then the ones Step Functions adds for SageMaker tasks; raises DefinitionError."""
    from statelint.config import Config
    from statelint.linter import Linter

    problems = Linter.validate(definition_text, Config())
    if problems:
        raise DefinitionError(
            f"{source} fails statelint ({len(problems)} problem(s)):\n"
            + "\n".join(f"  {p}" for p in problems)
        )
    definition = json.loads(definition_text)
    for name, where, state in walk_states(definition.get("States") or {}):
        match = _SAGEMAKER_RESOURCE.fullmatch(str(state.get("Resource", "")))
        sdk_match = _SDK_SAGEMAKER_RESOURCE.fullmatch(str(state.get("Resource", "")))
        if state.get("Type") == "Task" and sdk_match:
            _check_parameters(state, sdk_match["action"], source, where)
            continue
        if state.get("Type") != "Task" or not match:
            continue
        action, pattern = match["action"], match["pattern"]
        resource = state["Resource"]
        if action not in SAGEMAKER_ACTIONS or (
            pattern and (pattern != "sync" or action not in SAGEMAKER_SYNC_ACTIONS)
        ):
            raise DefinitionError(
                f"{source}: state '{name}': the resource provided {resource} is not recognized. The value is "
                "not a valid resource ARN, or the resource is not available in this region."
            )
        _check_parameters(state, action, source, where)
    return definition


def _check_parameters(state: Mapping[str, Any], action: str, source: str, where: str) -> None:
    """Parameters names only fields of the action's request (an unknown action fails here too)."""
    try:
        members = operation_model(action[0].upper() + action[1:]).input_shape.members
    except Exception:
        raise DefinitionError(
            f"{source}: state at {where}: SageMaker has no action {action} (resource {state['Resource']})"
        ) from None
    for key in state.get("Parameters") or {}:
        field_name = key.removesuffix(".$")
        if field_name not in members:
            raise DefinitionError(
                f'{source}: SCHEMA_VALIDATION_FAILED: The field "{field_name}" is not supported by '
                f"Step Functions at {where}/Parameters"
            )
