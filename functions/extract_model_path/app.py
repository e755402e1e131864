"""Extract Model Path: the best training job of a finished tuning job, where its model is, and the history of
every training job.

The event is ``{"tuning": <description>, "runPrefix": "runs/<run name>/"}``, where the description is the
DescribeHyperParameterTuningJob response that the ``.sync`` tuning task returns. The history goes to
``s3://$BUCKET_NAME/<runPrefix>tuning/training-jobs.json`` before the best job is picked, so it is written
also when no job completed.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

import boto3
from best_job import InvalidTuningJobDescription, best_training_job, model_artifact, require
from botocore.config import Config
from tuning_history import HISTORY_KEY, history_document, training_jobs, write_history

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

# Prefixes generate_dataset gives a run: runs/<run name>/ (the function may write there only).
_RUN_PREFIX = re.compile(r"runs/[A-Za-z0-9][A-Za-z0-9-]{0,79}/")


# Clients are created at the first invocation and kept for the life of the execution environment, so
# importing this module costs no more than importing boto3. Tests replace the functions to swap a client.
# Standard retries absorb SageMaker throttling inside the function; other API errors become named ones.
@functools.cache
def _sagemaker_client() -> Any:
    return boto3.client("sagemaker", config=Config(retries={"mode": "standard", "max_attempts": 5}))


@functools.cache
def _s3_client() -> Any:
    return boto3.client("s3")


class ConfigurationError(RuntimeError):
    """The function is deployed without the environment the template gives it."""


def _history_target(event: Any) -> tuple[Any, str, str]:
    """The description, and the bucket and key to write the history to, from the state machine's event."""
    if not isinstance(event, Mapping) or "tuning" not in event:
        keys = f" with keys {', '.join(sorted(map(str, event))[:10])}" if isinstance(event, Mapping) else ""
        raise InvalidTuningJobDescription(
            'the event must be {"tuning": <the tuning task\'s output>, "runPrefix": "runs/<run name>/"} as '
            f"the state machine sends it, got {type(event).__name__}{keys}"
        )
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
    description, bucket, key = _history_target(event)
    if not isinstance(description, Mapping):
        best_training_job(description)  # raises InvalidTuningJobDescription naming the type
    tuning_job = require(description, "HyperParameterTuningJobName", str, "event.tuning")
    jobs = training_jobs(_sagemaker_client(), tuning_job)
    history_uri = write_history(_s3_client(), bucket, key, history_document(description, jobs))
    logger.info("training job history written", extra={"uri": history_uri, "jobs": len(jobs)})
    summary = best_training_job(description)
    summary["modelDataUrl"] = model_artifact(_sagemaker_client(), summary["bestTrainingJobName"])
    summary["trainingJobsUri"] = history_uri
    logger.info("best training job", extra={"summary": summary})
    return summary
