"""Generate Training Dataset: the first state of every execution, and the Map's writer of each shard.

The first call validates the execution input, builds the run's config, names the run from the execution (so
concurrent executions never share a job name or an object), then writes the generated data set (``dataset``),
plans its shards, or checks the execution's own files (``own_data``). The Map then calls it once per shard.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import boto3
import own_data
from dataset_writer import (
    DatasetSpec,
    DatasetWriteError,
    generate,
    generate_shard,
    parse_spec,
    spec_input,
)
from execution_input import InvalidExecutionInput, validate_execution_input
from friedman import MAX_LABELLED_LINE_BYTES
from naming import Execution, parse_execution, run_name, stack_token
from run_config import (
    ConfigurationError,
    build_config,
    parse_config_input,
    parse_defaults,
    parse_search,
    training_volume_gb,
    with_training_volume,
)
from shard_check import check_shards
from warm_start import warm_start_config

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


# Clients are created at the first invocation and kept for the life of the execution environment, so
# importing this module costs no more than importing boto3. Tests replace the functions to swap a client.
@functools.cache
def _s3_client() -> Any:
    return boto3.client("s3")


@functools.cache
def _sagemaker_client() -> Any:
    return boto3.client("sagemaker")


def _bucket() -> str:
    bucket = os.environ.get("BUCKET_NAME")
    if not bucket:
        raise ConfigurationError("BUCKET_NAME is not set: deploy the function with the template")
    return bucket


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Event: ``{"input": <execution input>, "defaults": {...}, "search": {...}, "execution": {...}}``, or a
    shard's ``{"shard": ..., "dataset": ...}`` from the Map, or ``{"checkShards": ...}`` after it.

    Returns ``{"input": <the input, data set defaults filled in>, "config": {...}, "dataset": {...}}``: the
    state machine keeps it as its state.
    """
    if isinstance(event, Mapping) and "checkShards" in event:
        result = check_shards(_s3_client(), _bucket(), event.get("checkShards"))
        logger.info("data set shards checked", extra={"check": result})
        return result
    if isinstance(event, Mapping) and "shard" in event:
        result = generate_shard(_s3_client(), _bucket(), event.get("shard"), event.get("dataset"))
        logger.info("data set shard written", extra={"shard": result})
        return result
    bucket = _bucket()
    if not isinstance(event, Mapping):
        raise InvalidExecutionInput(f"the event must be a JSON object, got {type(event).__name__}")
    execution_input = validate_execution_input(event.get("input"))
    overrides = parse_config_input(execution_input)
    execution = parse_execution(event.get("execution"))
    # Built before any data is read or written: a bad combination of keys costs nothing.
    config = build_config(
        parse_defaults(event.get("defaults")),
        overrides,
        parse_search(event.get("search")),
        own_data="data" in execution_input,
    )
    if "warmStart" in execution_input:
        # Present only when asked for: the state machine chooses the warm-started tuning state on it.
        tuning = config["tuning"]
        config["warmStart"] = warm_start_config(
            _sagemaker_client(),
            execution_input["warmStart"],
            stack_token(),
            tuning["HyperParameterTuningJobObjective"],
            tuning["ResourceLimits"]["MaxNumberOfTrainingJobs"],
        )
        logger.info("warm start checked", extra={"warmStart": config["warmStart"]})
    if "data" in execution_input:
        dataset = prepare_own_data(bucket, execution, execution_input["data"])
        volume = training_volume_gb(dataset["bytes"]["train"], dataset["bytes"]["validation"], 1, 1)
        filled_input = execution_input
    else:
        spec = parse_spec(execution_input)
        logger.info("generating data set", extra={"spec": asdict(spec), "execution": execution.arn})
        # At least one training file per training instance: ShardedByS3Key gives instance i every n-th file.
        count = config["training"]["instanceCount"]
        dataset = {**generate(_s3_client(), bucket, execution, spec, min_shards=count), "source": "generated"}
        volume = _generated_volume_gb(spec, len(dataset.get("shards") or [None]), count)
        filled_input = {**execution_input, **spec_input(spec)}
    config = with_training_volume(config, volume)
    logger.info("data set ready", extra={"dataset": dataset, "config": config})
    return {"input": {**filled_input, **overrides}, "config": config, "dataset": dataset}


def _generated_volume_gb(spec: DatasetSpec, train_files: int, instance_count: int) -> int:
    """The training volume for generated data, from its longest possible line."""
    return training_volume_gb(
        spec.train_rows * MAX_LABELLED_LINE_BYTES,
        spec.validation_rows * MAX_LABELLED_LINE_BYTES,
        train_files,
        instance_count,
    )


def prepare_own_data(bucket: str, execution: Execution, data: Mapping[str, str]) -> dict[str, Any]:
    """Checks the execution's own files and splits its test file (own_data); S3 failures are named."""
    allowed = own_data.external_buckets(os.environ.get("EXTERNAL_DATA_BUCKETS"))
    if len(allowed) > own_data.MAX_EXTERNAL_BUCKETS:
        most = own_data.MAX_EXTERNAL_BUCKETS
        raise ConfigurationError(
            f"{own_data.PARAMETER} lists {len(allowed)} buckets; the template grants read on the first "
            f"{most} only: list at most {most} and deploy again"
        )
    logger.info("checking your own data", extra={"data": dict(data), "externalDataBuckets": allowed})
    try:
        dataset = own_data.prepare(_s3_client(), bucket, run_name(execution), data, allowed)
    except (
        own_data.OwnDataNotAllowed,
        own_data.OwnDataNotFound,
        own_data.OwnDataInvalid,
        own_data.OwnDataAccessDenied,
    ):
        raise
    except Exception as e:
        raise DatasetWriteError(
            f"preparing your own data (test file {data.get('testUri')}) failed: {e}"
        ) from e
    logger.info("your own data checked", extra={"dataset": dataset})
    return dataset
