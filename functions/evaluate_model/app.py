"""Evaluate Model: test metrics of the batch transform's predictions against the test labels.

Pairs every ``*.out`` object under the transform's output prefix (one prediction per line, in the order of
the test file) with its labels file (``evaluation``), writes the metrics as JSON under the run's prefix and
returns them with the quality gate's threshold resolved (``quality_gate``): the state machine's Choice
compares the RMSE with it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import boto3
from botocore.exceptions import ClientError
from evaluation import InvalidEvaluationRequest, evaluate, parse_s3_uri
from quality_gate import resolve_quality_gate

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


# Clients are created at the first invocation and kept for the life of the execution environment, so
# importing this module costs no more than importing boto3. Tests replace the functions to swap a client.
@functools.cache
def _s3_client() -> Any:
    return boto3.client("s3")


class MetricsWriteError(RuntimeError):
    """The metrics could not be written to S3."""


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Event: ``{"predictionsUri": s3 prefix, "labelsUri": s3 object, "metricsUri": s3 object to write,
    "dataset": the run's dataset (noiseFloorRmse), "qualityGate": the run's config.qualityGate}``."""
    if not isinstance(event, Mapping):
        raise InvalidEvaluationRequest(f"the event must be a JSON object, got {type(event).__name__}")
    m_bucket, m_key = parse_s3_uri(event.get("metricsUri"), "metricsUri")
    if event.get("qualityGate") is not None:
        resolve_quality_gate(
            event["qualityGate"], event.get("dataset"), 0.0
        )  # a bad gate fails before any read
    client = _s3_client()
    metrics = evaluate(client, event.get("predictionsUri"), event.get("labelsUri"))
    gate = resolve_quality_gate(event.get("qualityGate"), event.get("dataset"), metrics.rmse)
    result = {**asdict(metrics), "metricsUri": f"s3://{m_bucket}/{m_key}", "qualityGate": asdict(gate)}
    try:
        client.put_object(
            Bucket=m_bucket,
            Key=m_key,
            Body=json.dumps(result, indent=2).encode(),
            ContentType="application/json",
        )
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code")
        raise MetricsWriteError(f"cannot write s3://{m_bucket}/{m_key}: {code}") from e
    logger.info("test metrics", extra={"metrics": result})
    return result
