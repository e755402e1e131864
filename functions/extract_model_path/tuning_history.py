"""The history of every training job of a tuning job, written under the run's prefix for the report.

ListTrainingJobsForHyperParameterTuningJob gives each job's status, times, objective, tuned hyperparameters
and failure reason. The report reads the same functions when a run ended before writing the history.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

logger = logging.getLogger(__name__)

# Where the history goes under the run's prefix (the report reads it from there).
HISTORY_KEY = "tuning/training-jobs.json"


class TrainingJobListFailed(RuntimeError):
    """ListTrainingJobsForHyperParameterTuningJob failed (unknown tuning job, access denied...)."""


class HistoryWriteError(RuntimeError):
    """The training job history could not be written to S3."""


def json_safe(value: Any) -> Any:
    """A copy of an SDK response that ``json.dumps`` takes: datetimes as ISO 8601 text, other values that
    are not JSON as their text."""
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _job_record(summary: Mapping[str, Any]) -> dict[str, Any]:
    objective = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    return {
        "name": summary.get("TrainingJobName"),
        "status": summary.get("TrainingJobStatus"),
        "creationTime": json_safe(summary.get("CreationTime")),
        "startTime": json_safe(summary.get("TrainingStartTime")),
        "endTime": json_safe(summary.get("TrainingEndTime")),
        "objectiveStatus": summary.get("ObjectiveStatus"),
        "objectiveValue": objective.get("Value"),
        "hyperparameters": dict(summary.get("TunedHyperParameters") or {}),
        "failureReason": summary.get("FailureReason"),
    }


def training_jobs(client: Any, tuning_job_name: str) -> list[dict[str, Any]]:
    """Every training job of the tuning job, in the order SageMaker created them (all statuses)."""
    # A call returns 10 summaries unless asked for up to 100, as many as a tuning job may run; the
    # paginator follows NextToken all the same.
    paginator = client.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job")
    try:
        summaries = [
            summary
            for page in paginator.paginate(
                HyperParameterTuningJobName=tuning_job_name,
                SortBy="CreationTime",
                SortOrder="Ascending",
                PaginationConfig={"PageSize": 100},
            )
            for summary in page.get("TrainingJobSummaries", [])
        ]
    except ClientError as e:
        error = e.response.get("Error", {})
        logger.exception("ListTrainingJobsForHyperParameterTuningJob failed")
        raise TrainingJobListFailed(
            f"ListTrainingJobsForHyperParameterTuningJob({tuning_job_name}) failed: {error.get('Code')}: "
            f"{error.get('Message')}; check that the role may list the tuning job's training jobs"
        ) from e
    return [_job_record(summary) for summary in summaries]


def history_document(description: Mapping[str, Any], jobs: list[dict[str, Any]]) -> dict[str, Any]:
    config = description.get("HyperParameterTuningJobConfig")
    objective = (
        config.get("HyperParameterTuningJobObjective") if isinstance(config, Mapping) else None
    ) or {}
    best = description.get("BestTrainingJob")
    return {
        "tuningJobName": description.get("HyperParameterTuningJobName"),
        "tuningJobStatus": description.get("HyperParameterTuningJobStatus"),
        "objectiveMetric": objective.get("MetricName") if isinstance(objective, Mapping) else None,
        "objectiveType": objective.get("Type") if isinstance(objective, Mapping) else None,
        "bestTrainingJobName": best.get("TrainingJobName") if isinstance(best, Mapping) else None,
        "trainingJobs": jobs,
    }


def write_history(client: Any, bucket: str, key: str, document: dict[str, Any]) -> str:
    try:
        body = json.dumps(document, indent=1, allow_nan=False).encode()
    except ValueError as e:  # a non-finite objective value: JSON has no NaN or Infinity
        raise HistoryWriteError(
            f"the training job history of s3://{bucket}/{key} is not valid JSON: {e}"
        ) from e
    try:
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code")
        logger.exception("writing the training job history failed")
        raise HistoryWriteError(f"cannot write s3://{bucket}/{key}: {code}") from e
    return f"s3://{bucket}/{key}"
