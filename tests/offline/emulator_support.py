"""Requests built from the state machine definition, and a workspace (bucket, data, emulator) for the
offline SageMaker emulator's tests (the fixtures that build them are in conftest.py)."""

from __future__ import annotations

import copy
import json
import math
import random
import re
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError

from offline.sagemaker_emulator import LocalSageMaker
from offline.template import DEFAULT_STACK_NAME
from tests.conftest import ACCOUNT_ID, REGION, STATE_MACHINE_FILE

IMAGE = f"683313688378.dkr.ecr.{REGION}.amazonaws.com/sagemaker-xgboost:3.0-5"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker-xgboost-tuning-SageMakerExecutionRole-1A2B3C4D5E6F"
SUBSTITUTIONS = {
    "Partition": "aws",
    "StackName": DEFAULT_STACK_NAME,
    "XGBoostImageUri": IMAGE,
    "SageMakerExecutionRoleArn": ROLE,
    "TrainingInstanceType": "ml.m5.xlarge",
    "TransformInstanceType": "ml.m5.large",
    "MaxTrainingJobs": "4",
    "MaxParallelTrainingJobs": "2",
    "MaxTrainingJobRuntimeSeconds": "3600",
    "MaxTuningRuntimeSeconds": "36000",
}
# The definition's search space, which the first state puts into the tuning job's config.
SEARCH = json.loads(STATE_MACHINE_FILE.read_text(encoding="utf-8"))["States"]["Generate Training Dataset"][
    "Parameters"
]["Payload"]["search"]
# The run's config as the first state builds it for these substitutions (functions/generate_dataset/
# run_config.py); BestObjectiveNotImproving at its maximum so it ends no search these tests count on.
CONFIG = {
    "tuning": {
        "Strategy": "Bayesian",
        "HyperParameterTuningJobObjective": SEARCH["HyperParameterTuningJobObjective"],
        "ParameterRanges": SEARCH["ParameterRanges"],
        "RandomSeed": SEARCH["RandomSeed"],
        "ResourceLimits": {
            "MaxNumberOfTrainingJobs": 4,
            "MaxParallelTrainingJobs": 2,
            "MaxRuntimeInSeconds": 36000,
        },
        "TrainingJobEarlyStoppingType": "Auto",
        "TuningJobCompletionCriteria": {
            "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 100}
        },
    },
    "training": {
        "instanceType": "ml.m5.xlarge",
        "instanceCount": 1,
        "trainDistribution": "FullyReplicated",
        "enableManagedSpotTraining": False,
        "stoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "volumeSizeInGB": 5,
    },
    "transform": {"instanceType": "ml.m5.large"},
}
FEATURES = 10
TRAIN_ROWS, VALIDATION_ROWS, TEST_ROWS = 400, 150, 60


def definition() -> dict[str, Any]:
    return json.loads(STATE_MACHINE_FILE.read_text(encoding="utf-8"))


def resolve(node: Any, state: dict[str, Any]) -> Any:
    """Parameters of a definition state, resolved for the forms the definition uses (and no others)."""
    if isinstance(node, dict):
        resolved = {}
        for key, value in node.items():
            if not key.endswith(".$"):
                resolved[key] = resolve(value, state)
                continue
            intrinsic = re.fullmatch(r"States\.StringToJson\('\$\{(\w+)\}'\)", value)
            if intrinsic:
                resolved[key[:-2]] = json.loads(SUBSTITUTIONS[intrinsic[1]])
            else:
                assert value.startswith("$."), f"unexpected path {value}"
                target: Any = state
                for part in value[2:].split("."):
                    target = target[part]
                resolved[key[:-2]] = copy.deepcopy(target)  # tests change requests in place
        return resolved
    if isinstance(node, list):
        return [resolve(item, state) for item in node]
    if isinstance(node, str):
        return re.sub(r"\$\{(\w+)\}", lambda m: SUBSTITUTIONS[m[1]], node)
    return node


def tuning_request(dataset: dict[str, str], name: str | None = None) -> dict[str, Any]:
    parameters = definition()["States"]["HyperparameterTuning (XGBoost)"]["Parameters"]
    checkpoints = {"S3Uri": dataset["modelOutputUri"].removesuffix("models/") + "checkpoints/"}
    config = {**CONFIG, "training": {**CONFIG["training"], "checkpointConfig": checkpoints}}
    request = resolve(parameters, {"dataset": dataset, "config": config})
    if name:
        request["HyperParameterTuningJobName"] = name
    return request


def transform_request(dataset: dict[str, str], model_name: str, name: str) -> dict[str, Any]:
    parameters = definition()["States"]["Batch transform"]["Parameters"]
    request = resolve(parameters, {"dataset": dataset, "model": {"modelName": model_name}, "config": CONFIG})
    request["TransformJobName"] = name
    return request


def model_request(name: str, model_data_url: str) -> dict[str, Any]:
    parameters = definition()["States"]["HyperparameterTuning - Save Model"]["Parameters"]
    state = {
        "tuning": {"bestTrainingJobName": name, "modelDataUrl": model_data_url},
        "dataset": {"runName": name},
    }
    return resolve(parameters, state)


def config(request: dict[str, Any]) -> dict[str, Any]:
    return request["HyperParameterTuningJobConfig"]


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def tuning_job_error(workspace: Workspace, request: dict[str, Any]) -> tuple[str, str]:
    """The error code and message CreateHyperParameterTuningJob refuses ``request`` with."""
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**request)
    assert excinfo.value.operation_name == "CreateHyperParameterTuningJob"
    return error_of(excinfo)


def tuning_job_refusal(workspace: Workspace, request: dict[str, Any]) -> str:
    """The message of the ValidationException that CreateHyperParameterTuningJob refuses ``request`` with."""
    code, message = tuning_job_error(workspace, request)
    assert code == "ValidationException"
    return message


def csv_bytes(rows: list[list[float]]) -> bytes:
    return "".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in rows).encode()


class Workspace:
    """A bucket with train/validation/test data, and an emulator that records its listener's events."""

    def __init__(self, friedman1: Callable[..., Any], seed: int = 3) -> None:
        self.s3 = boto3.client("s3", region_name=REGION)
        self.bucket = f"emulator-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(Bucket=self.bucket)
        rng = random.Random(seed)
        self.train = friedman1(TRAIN_ROWS, rng, 1.0)
        self.validation = friedman1(VALIDATION_ROWS, rng, 1.0)
        self.test = friedman1(TEST_ROWS, rng, 1.0)
        self.put("data/train/train.csv", csv_bytes(self.train))
        self.put("data/validation/validation.csv", csv_bytes(self.validation))
        self.put("data/test/test.csv", csv_bytes([row[1:] for row in self.test]))
        self.put("data/test-with-labels/test.csv", csv_bytes(self.test))
        base = f"s3://{self.bucket}"
        self.dataset = {
            "runName": "run-" + uuid.uuid4().hex[:8],
            "tuningJobName": "tuning-" + uuid.uuid4().hex[:8],
            "transformJobName": "transform-" + uuid.uuid4().hex[:8],
            "trainUri": f"{base}/data/train/",
            "validationUri": f"{base}/data/validation/",
            "testUri": f"{base}/data/test/",
            "modelOutputUri": f"{base}/models/",
            "transformOutputUri": f"{base}/predictions/",
        }
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.sagemaker = LocalSageMaker(self.s3, region=REGION, account_id=ACCOUNT_ID, listener=self.record)

    def record(self, event: str, data: dict[str, Any]) -> None:
        json.dumps(data)  # the listener's data must be JSON-safe
        self.events.append((event, data))

    def put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)

    def get(self, uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def tune(self, request: dict[str, Any]) -> dict[str, Any]:
        self.sagemaker.create_hyper_parameter_tuning_job(**request)
        return self.sagemaker.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=request["HyperParameterTuningJobName"]
        )

    def training_jobs(self, tuning_job: str) -> list[dict[str, Any]]:
        summaries: list[dict[str, Any]] = []
        token = None
        while True:
            page = self.sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=tuning_job,
                MaxResults=100,
                **({"NextToken": token} if token else {}),
            )
            summaries.extend(page["TrainingJobSummaries"])
            token = page.get("NextToken")
            if not token:
                return summaries


def rmse(predictions: np.ndarray, labels: list[float]) -> float:
    return math.sqrt(float(np.mean((np.asarray(predictions, dtype=np.float64) - np.asarray(labels)) ** 2)))
