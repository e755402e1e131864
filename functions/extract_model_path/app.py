"""Extract Model Path: the best training job of a finished tuning job, and where its model is.

The event is ``{"tuning": <description>, "runPrefix": "runs/<run name>/"}``, where the description is the
DescribeHyperParameterTuningJob response that the ``.sync`` tuning task returns. The model artifact is not
in it: DescribeTrainingJob of the best training job gives ``ModelArtifacts.S3ModelArtifacts``.

Before it picks the best job, the function writes the history of every training job of the tuning job
(ListTrainingJobsForHyperParameterTuningJob: status, times, objective, tuned hyperparameters, failure
reason) to ``s3://$BUCKET_NAME/<runPrefix>tuning/training-jobs.json`` for the report, also when no job
completed. A bare description (the sample's event,
``events/functions/ExtractModelPathFunction/extract_model_path.json``) gives the summary without the history.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

# Standard retries absorb SageMaker throttling inside the function; other API errors become named ones.
# Created at the first invocation and kept for the life of the execution environment, so importing this
# module costs no more than importing boto3 (bench: cold_start). Tests and the offline engine may set it.
sagemaker: Any = None
s3: Any = None

# Where the history goes under the run's prefix (the report reads it from there).
HISTORY_KEY = "tuning/training-jobs.json"
# Prefixes generate_dataset gives a run: runs/<run name>/ (the function may write there only).
_RUN_PREFIX = re.compile(r"runs/[A-Za-z0-9][A-Za-z0-9-]{0,79}/")


def _sagemaker_client() -> Any:
    global sagemaker
    if sagemaker is None:
        sagemaker = boto3.client("sagemaker", config=Config(retries={"mode": "standard", "max_attempts": 5}))
    return sagemaker


def _s3_client() -> Any:
    global s3
    if s3 is None:
        s3 = boto3.client("s3")
    return s3


class InvalidTuningJobDescription(ValueError):
    """The event is not a tuning job description."""


class NoBestTrainingJob(RuntimeError):
    """The tuning job finished without a completed training job, so there is no model."""


class ModelArtifactNotFound(RuntimeError):
    """The best training job has no model artifact (it did not complete)."""


class TrainingJobLookupFailed(RuntimeError):
    """DescribeTrainingJob of the best training job failed (unknown job, access denied...)."""


class ConfigurationError(RuntimeError):
    """The function is deployed without the environment the template gives it."""


class TrainingJobListFailed(RuntimeError):
    """ListTrainingJobsForHyperParameterTuningJob failed (unknown tuning job, access denied...)."""


class HistoryWriteError(RuntimeError):
    """The training job history could not be written to S3."""


def _require(mapping: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
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
    tuning_job = _require(description, "HyperParameterTuningJobName", str, "event")
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
    name = _require(best, "TrainingJobName", str, "event.BestTrainingJob")
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


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else value


def _job_record(summary: Mapping[str, Any]) -> dict[str, Any]:
    objective = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    return {
        "name": summary.get("TrainingJobName"),
        "status": summary.get("TrainingJobStatus"),
        "creationTime": _iso(summary.get("CreationTime")),
        "startTime": _iso(summary.get("TrainingStartTime")),
        "endTime": _iso(summary.get("TrainingEndTime")),
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


def _history_target(event: Mapping[str, Any]) -> tuple[Any, str, str]:
    """The description, and the bucket and key to write the history to, from the state machine's event."""
    run_prefix = event.get("runPrefix")
    if not isinstance(run_prefix, str) or not _RUN_PREFIX.fullmatch(run_prefix):
        raise InvalidTuningJobDescription(
            f"event.runPrefix must be the run's prefix runs/<run name>/, got {str(run_prefix)[:100]!r}"
        )
    bucket = os.environ.get("BUCKET_NAME")
    if not bucket:
        raise ConfigurationError("BUCKET_NAME is not set: deploy the function with the template")
    return event["tuning"], bucket, f"{run_prefix}{HISTORY_KEY}"


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Event: ``{"tuning": <DescribeHyperParameterTuningJob response>, "runPrefix": "runs/<name>/"}``."""
    history_uri = None
    if isinstance(event, Mapping) and "tuning" in event:
        description, bucket, key = _history_target(event)
        if not isinstance(description, Mapping):
            best_training_job(description)  # raises InvalidTuningJobDescription naming the type
        tuning_job = _require(description, "HyperParameterTuningJobName", str, "event.tuning")
        jobs = training_jobs(_sagemaker_client(), tuning_job)
        history_uri = write_history(_s3_client(), bucket, key, history_document(description, jobs))
        logger.info("training job history written", extra={"uri": history_uri, "jobs": len(jobs)})
    else:
        description = event
    summary = best_training_job(description)
    summary["modelDataUrl"] = model_artifact(_sagemaker_client(), summary["bestTrainingJobName"])
    summary["trainingJobsUri"] = history_uri
    logger.info("best training job", extra={"summary": summary})
    return summary
