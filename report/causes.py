"""The part of a failed execution's cause a person needs, for the offline run's summary and the report.

Step Functions puts a Lambda error's cause as the handler's ``{"errorMessage", "errorType", "stackTrace"}``
and a failed SageMaker job's cause as the job's whole description (thousands of characters, the reason
near the end). Both are cut down to the message: the error name is shown beside it anyway.
"""

from __future__ import annotations

import json
from typing import Any

# The name of the job a SageMaker description is about, by its key.
_JOB_NAMES = {
    "HyperParameterTuningJobName": "tuning job",
    "TrainingJobName": "training job",
    "TransformJobName": "transform job",
}
_STATUS_KEYS = ("HyperParameterTuningJobStatus", "TrainingJobStatus", "TransformJobStatus")


# What the definition's Describe Tuning Failure state puts between the first failed training job's reason and
# the tuning job's description (tests/report keep the two equal).
TRAINING_FAILURE_SEPARATOR = " | The tuning job, as SageMaker describes it: "


def readable_cause(cause: Any) -> str:
    """A Lambda error's errorMessage, a failed job's FailureReason (with the job), else the cause itself.

    Tuning Failed's cause may lead with the failed training job's reason: kept, then the tuning job's."""
    text = "" if cause is None else str(cause)
    training, separator, described = text.partition(TRAINING_FAILURE_SEPARATOR)
    if separator:
        return f"{training.strip()} | {readable_cause(described)}"
    try:
        value = json.loads(text)
    except ValueError:
        return text.strip()
    if not isinstance(value, dict):
        return text.strip()
    if isinstance(value.get("errorMessage"), str):
        return value["errorMessage"]
    if isinstance(value.get("FailureReason"), str):
        job = next(
            (f"{kind} {value[key]}" for key, kind in _JOB_NAMES.items() if isinstance(value.get(key), str)),
            "the job",
        )
        status = next((value[key] for key in _STATUS_KEYS if isinstance(value.get(key), str)), "Failed")
        return f"{job} {status}: {value['FailureReason']}"
    return text.strip()
