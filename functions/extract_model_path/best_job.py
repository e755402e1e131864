"""The best training job of a finished tuning job, out of its description, and where its model is.

The model artifact is not in the description: DescribeTrainingJob of the best training job gives
``ModelArtifacts.S3ModelArtifacts``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

logger = logging.getLogger(__name__)


class InvalidTuningJobDescription(ValueError):
    """The event is not a tuning job description."""


class NoBestTrainingJob(RuntimeError):
    """The tuning job finished without a completed training job, so there is no model."""


class ModelArtifactNotFound(RuntimeError):
    """The best training job has no model artifact (it did not complete)."""


class TrainingJobLookupFailed(RuntimeError):
    """DescribeTrainingJob of the best training job failed (unknown job, access denied...)."""


def require(mapping: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = mapping.get(key)
    if not isinstance(value, kind) or (kind is str and not value):
        raise InvalidTuningJobDescription(
            f"{where}.{key} must be a {'non-empty string' if kind is str else kind.__name__}, "
            f"got {type(value).__name__}: pass the output of the tuning task "
            "(DescribeHyperParameterTuningJob)"
        )
    return value


def best_training_job(description: Any) -> dict[str, Any]:
    """Picks the best training job's name, objective and hyperparameters out of the description."""
    if not isinstance(description, Mapping):
        raise InvalidTuningJobDescription(
            f"the event must be a tuning job description (a JSON object), got {type(description).__name__}"
        )
    tuning_job = require(description, "HyperParameterTuningJobName", str, "event")
    counters = description.get("TrainingJobStatusCounters")
    counters = dict(counters) if isinstance(counters, Mapping) else {}
    best = description.get("BestTrainingJob")
    if best is None:
        raise NoBestTrainingJob(
            f"tuning job {tuning_job} has no best training job: no training job completed "
            f"(status {description.get('HyperParameterTuningJobStatus', 'unknown')}, counters {counters}); "
            "read the failed training jobs' FailureReason in the SageMaker console"
        )
    if not isinstance(best, Mapping):
        raise InvalidTuningJobDescription(
            f"event.BestTrainingJob must be an object, got {type(best).__name__}"
        )
    name = require(best, "TrainingJobName", str, "event.BestTrainingJob")
    objective = best.get("FinalHyperParameterTuningJobObjectiveMetric")
    if objective is not None and not isinstance(objective, Mapping):
        raise InvalidTuningJobDescription(
            "event.BestTrainingJob.FinalHyperParameterTuningJobObjectiveMetric must be an object"
        )
    hyperparameters = best.get("TunedHyperParameters", {})
    if not isinstance(hyperparameters, Mapping):
        raise InvalidTuningJobDescription("event.BestTrainingJob.TunedHyperParameters must be an object")
    for key, tuned in hyperparameters.items():
        if not isinstance(tuned, str):
            raise InvalidTuningJobDescription(
                f"event.BestTrainingJob.TunedHyperParameters.{key} must be a string (SageMaker sends every "
                f"hyperparameter as a string), got {type(tuned).__name__}"
            )
    value = objective.get("Value") if objective else None
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise InvalidTuningJobDescription(
            "event.BestTrainingJob.FinalHyperParameterTuningJobObjectiveMetric.Value must be a number"
        )
    return {
        "tuningJobName": tuning_job,
        "tuningJobStatus": description.get("HyperParameterTuningJobStatus"),
        "trainingJobStatusCounters": counters,
        "bestTrainingJobName": name,
        "objectiveMetric": objective.get("MetricName") if objective else None,
        "objectiveValue": value,
        "hyperparameters": dict(hyperparameters),
    }


def model_artifact(client: Any, training_job_name: str) -> str:
    """The S3 URI of the training job's model.tar.gz."""
    try:
        job = client.describe_training_job(TrainingJobName=training_job_name)
    except ClientError as e:
        error = e.response.get("Error", {})
        logger.exception("DescribeTrainingJob failed", extra={"trainingJobName": training_job_name})
        raise TrainingJobLookupFailed(
            f"DescribeTrainingJob({training_job_name}) failed: {error.get('Code')}: {error.get('Message')}; "
            "check that the job exists in this account and region and that the role may describe it"
        ) from e
    uri = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if not uri:
        raise ModelArtifactNotFound(
            f"training job {training_job_name} has no model artifact (status {job.get('TrainingJobStatus')})"
        )
    return uri
