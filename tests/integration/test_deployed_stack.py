"""One real execution of a deployed stack: the run succeeds and leaves its data, model and predictions.

Runs only when asked for, against the stack named by AWS_SAM_STACK_NAME, with the machine's own AWS
credentials and region::

    sam deploy --guided
    AWS_SAM_STACK_NAME=sagemaker-xgboost-tuning .venv/bin/python -m pytest -m integration tests/integration

It starts SageMaker jobs and costs what a run costs (README: cost of a run); the small overrides in
events/execution_input_overrides.json keep the data set small. CI never runs it (the marker is
deselected by default and sockets are blocked there).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.enable_socket]

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
# A default tuning job runs its 10 training jobs 4 at a time; transform and start-up add some minutes.
TIMEOUT_SECONDS = 3 * 60 * 60
POLL_SECONDS = 30


@pytest.fixture(scope="module")
def stack_outputs() -> dict[str, str]:
    stack_name = os.environ.get("AWS_SAM_STACK_NAME")
    if not stack_name:
        pytest.skip(
            "not checked: a real execution of a deployed stack (its output, metrics and S3 objects), because "
            "AWS_SAM_STACK_NAME names no stack; deploy one (it costs a run's SageMaker time) and set it"
        )
    (stack,) = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    missing = {"TuningStateMachineArn", "DataBucketName"} - set(outputs)
    assert not missing, f"stack {stack_name} has no output {sorted(missing)}"
    return outputs


def _execution_input() -> dict[str, Any]:
    path = EVENTS_DIR / "execution_input_overrides.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


@pytest.fixture(scope="module")
def execution(stack_outputs: dict[str, str]) -> Iterator[dict[str, Any]]:
    """A finished execution (describe_execution's response); stopped if it outlives the timeout."""
    sfn = boto3.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=stack_outputs["TuningStateMachineArn"],
        name=f"integration-{uuid.uuid4()}",
        input=json.dumps(_execution_input()),
    )
    arn = started["executionArn"]
    deadline = time.monotonic() + TIMEOUT_SECONDS
    description = sfn.describe_execution(executionArn=arn)
    while description["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        description = sfn.describe_execution(executionArn=arn)
    if description["status"] == "RUNNING":
        sfn.stop_execution(executionArn=arn, error="IntegrationTestTimeout", cause="the test stopped waiting")
    yield description


def _split(uri: str) -> tuple[str, str]:
    assert uri.startswith("s3://"), uri
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _keys_under(s3: Any, uri: str) -> set[str]:
    bucket, prefix = _split(uri)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def test_execution_succeeds(execution: dict[str, Any]) -> None:
    error, cause = execution.get("error"), execution.get("cause")
    assert execution["status"] == "SUCCEEDED", (
        f"{execution['executionArn']}: {execution['status']} {error}: {cause}"
    )


def test_output_summarises_the_run(execution: dict[str, Any], stack_outputs: dict[str, str]) -> None:
    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    dataset, tuning = output["dataset"], output["tuning"]
    assert dataset["bucket"] == stack_outputs["DataBucketName"]
    assert dataset["prefix"].startswith(f"runs/{dataset['runName']}")
    for key in ("bestTrainingJobName", "objectiveValue", "hyperparameters", "modelDataUrl"):
        assert tuning.get(key) not in (None, "", {}), key
    assert isinstance(tuning["objectiveValue"], (int, float))
    assert output["model"]["modelName"] == tuning["bestTrainingJobName"]
    assert output["transform"]["outputUri"].startswith(f"s3://{dataset['bucket']}/{dataset['prefix']}")


def test_run_leaves_data_model_and_predictions_in_s3(execution: dict[str, Any]) -> None:
    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    dataset = output["dataset"]
    s3 = boto3.client("s3")
    for uri, name in (
        (dataset["trainUri"], "train.csv"),
        (dataset["validationUri"], "validation.csv"),
        (dataset["testUri"], "test.csv"),
    ):
        assert any(key.endswith(f"/{name}") for key in _keys_under(s3, uri)), (uri, name)
    model_bucket, model_key = _split(output["tuning"]["modelDataUrl"])
    assert model_key.endswith("model.tar.gz")
    s3.head_object(Bucket=model_bucket, Key=model_key)
    bucket, prefix = _split(output["transform"]["outputUri"])
    predictions = s3.get_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/test.csv.out")["Body"].read()
    # One prediction a line for every test row.
    assert len(predictions.splitlines()) == dataset["rows"]["test"]
    # The test metrics the quality gate judged, under the run's prefix.
    metrics_bucket, metrics_key = _split(output["evaluation"]["metricsUri"])
    metrics = json.loads(s3.get_object(Bucket=metrics_bucket, Key=metrics_key)["Body"].read())
    assert metrics["rows"] == dataset["rows"]["test"] and metrics["rmse"] == output["evaluation"]["rmse"]
