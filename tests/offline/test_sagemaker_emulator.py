"""The offline SageMaker emulator: validation, tuning with Optuna, real XGBoost training, models, transforms.

The requests come from the state machine definition itself (``statemachine/tuning.asl.json``), with the
template's substitutions filled in, so the emulator is tested on what the workflow sends. Data is Friedman #1
from the generate_dataset handler, small (a few hundred rows) and tuning jobs run a few trials, so the whole
module runs in seconds.

One moto mock serves the module; every test works in its own bucket with its own emulator.
"""

from __future__ import annotations

import copy
import io
import json
import math
import random
import re
import tarfile
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import numpy as np
import optuna
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator
from moto import mock_aws

from offline import hpo
from offline.request_validation import constraint_errors, operation_model
from offline.sagemaker_emulator import LocalSageMaker
from tests.conftest import _FAKE_AWS_ENV, ACCOUNT_ID, REGION, STATE_MACHINE_FILE

IMAGE = f"683313688378.dkr.ecr.{REGION}.amazonaws.com/sagemaker-xgboost:3.0-5"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker-xgboost-tuning-SageMakerExecutionRole-1A2B3C4D5E6F"
SUBSTITUTIONS = {
    "Partition": "aws",
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


# --- requests from the definition --------------------------------------------------------------------


def _definition() -> dict[str, Any]:
    return json.loads(STATE_MACHINE_FILE.read_text(encoding="utf-8"))


def _resolve(node: Any, state: dict[str, Any]) -> Any:
    """Parameters of a definition state, resolved for the forms the definition uses (and no others)."""
    if isinstance(node, dict):
        resolved = {}
        for key, value in node.items():
            if not key.endswith(".$"):
                resolved[key] = _resolve(value, state)
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
        return [_resolve(item, state) for item in node]
    if isinstance(node, str):
        return re.sub(r"\$\{(\w+)\}", lambda m: SUBSTITUTIONS[m[1]], node)
    return node


def tuning_request(dataset: dict[str, str], name: str | None = None) -> dict[str, Any]:
    parameters = _definition()["States"]["HyperparameterTuning (XGBoost)"]["Parameters"]
    checkpoints = {"S3Uri": dataset["modelOutputUri"].removesuffix("models/") + "checkpoints/"}
    config = {**CONFIG, "training": {**CONFIG["training"], "checkpointConfig": checkpoints}}
    request = _resolve(parameters, {"dataset": dataset, "config": config})
    if name:
        request["HyperParameterTuningJobName"] = name
    return request


def transform_request(dataset: dict[str, str], model_name: str, name: str) -> dict[str, Any]:
    parameters = _definition()["States"]["Batch transform"]["Parameters"]
    request = _resolve(parameters, {"dataset": dataset, "model": {"modelName": model_name}, "config": CONFIG})
    request["TransformJobName"] = name
    return request


def model_request(name: str, model_data_url: str) -> dict[str, Any]:
    parameters = _definition()["States"]["HyperparameterTuning - Save Model"]["Parameters"]
    return _resolve(parameters, {"tuning": {"bestTrainingJobName": name, "modelDataUrl": model_data_url}})


def config(request: dict[str, Any]) -> dict[str, Any]:
    return request["HyperParameterTuningJobConfig"]


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in _FAKE_AWS_ENV.items():
            patch.setenv(key, value)
        with mock_aws():
            yield


@pytest.fixture(scope="module")
def friedman1() -> Callable[..., Any]:
    """Rows ``[label, *features]`` as the generate_dataset handler makes them (the offline run's data)."""
    import friedman

    def rows(count: int, rng: random.Random, noise: float) -> list[list[float]]:
        made: list[list[float]] = []
        for start in range(0, count, friedman.BATCH_ROWS):
            labels, lines, _ = friedman.friedman1_batch(min(friedman.BATCH_ROWS, count - start), rng, noise)
            features = [[float(v) for v in line.split(b",")] for line in lines.splitlines()]
            made += ([y, *x] for y, x in zip(labels, features, strict=True))
        return made

    return rows


def _csv(rows: list[list[float]]) -> bytes:
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
        self.put("data/train/train.csv", _csv(self.train))
        self.put("data/validation/validation.csv", _csv(self.validation))
        self.put("data/test/test.csv", _csv([row[1:] for row in self.test]))
        self.put("data/test-with-labels/test.csv", _csv(self.test))
        base = f"s3://{self.bucket}"
        self.dataset = {
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


@pytest.fixture
def workspace(aws: None, friedman1: Callable[..., Any]) -> Workspace:
    return Workspace(friedman1)


@pytest.fixture(scope="module")
def tuned(aws: None, friedman1: Callable[..., Any]) -> tuple[Workspace, dict[str, Any]]:
    """One finished tuning job of the definition's configuration (4 jobs, 2 at a time), shared read-only."""
    space = Workspace(friedman1)
    return space, space.tune(tuning_request(space.dataset))


@pytest.fixture(scope="module")
def best_model(tuned: tuple[Workspace, dict[str, Any]]) -> tuple[Workspace, str, xgb.Booster]:
    """The best training job's model, created as the definition creates it, and the booster it holds."""
    space, description = tuned
    name = description["BestTrainingJob"]["TrainingJobName"]
    artifact = space.sagemaker.describe_training_job(TrainingJobName=name)["ModelArtifacts"][
        "S3ModelArtifacts"
    ]
    space.sagemaker.create_model(**model_request(name, artifact))
    with tarfile.open(fileobj=io.BytesIO(space.get(artifact)), mode="r:gz") as tar:
        member = tar.extractfile("xgboost-model")
        assert member is not None
        booster = xgb.Booster()
        booster.load_model(bytearray(member.read()))
    return space, name, booster


def _rmse(predictions: np.ndarray, labels: list[float]) -> float:
    return math.sqrt(float(np.mean((np.asarray(predictions, dtype=np.float64) - np.asarray(labels)) ** 2)))


# --- request validation ------------------------------------------------------------------------------


def test_a_tuning_job_name_longer_than_32_characters_is_rejected_in_sagemakers_words(
    workspace: Workspace,
) -> None:
    name = "run-" + "-" * 27 + "a1"  # hyphens repeat freely in the pattern: only the length is wrong
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**tuning_request(workspace.dataset, name))
    code, message = error_of(excinfo)
    assert code == "ValidationException"
    assert excinfo.value.operation_name == "CreateHyperParameterTuningJob"
    assert message == (
        f"1 validation error detected: Value '{name}' at 'hyperParameterTuningJobName' failed to satisfy "
        "constraint: Member must have length less than or equal to 32"
    )


def test_a_console_execution_name_is_too_long_for_a_tuning_job(workspace: Workspace) -> None:
    name = str(uuid.UUID(int=7))  # 36 characters, as the console names executions; the pattern allows it
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**tuning_request(workspace.dataset, name))
    _, message = error_of(excinfo)
    assert message.startswith(
        f"1 validation error detected: Value '{name}' at 'hyperParameterTuningJobName' "
    )
    assert message.endswith("Member must have length less than or equal to 32")


def test_a_name_breaking_length_and_pattern_reports_both(workspace: Workspace) -> None:
    name = "a" * 33  # 33 alphanumerics: the pattern allows 32
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**tuning_request(workspace.dataset, name))
    _, message = error_of(excinfo)
    assert message.startswith(
        f"2 validation errors detected: Value '{name}' at 'hyperParameterTuningJobName' "
    )
    assert "Member must have length less than or equal to 32; Value " in message
    assert message.endswith(
        "Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}"
    )


def test_a_name_that_breaks_the_pattern_is_rejected(workspace: Workspace) -> None:
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**tuning_request(workspace.dataset, "bad_name"))
    code, message = error_of(excinfo)
    assert code == "ValidationException"
    assert (
        "Value 'bad_name' at 'hyperParameterTuningJobName' failed to satisfy constraint: Member must satisfy "
        in (message)
    )
    assert "regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}" in message


def test_an_unknown_key_is_rejected(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    config(request)["PrecisionDtype"] = "float32"
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**request)
    code, message = error_of(excinfo)
    assert code == "ValidationException"
    assert 'Unknown parameter in HyperParameterTuningJobConfig: "PrecisionDtype"' in message


def test_a_missing_required_member_is_reported_as_null(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    del config(request)["ResourceLimits"]["MaxParallelTrainingJobs"]
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**request)
    assert error_of(excinfo) == (
        "ValidationException",
        "1 validation error detected: Value null at "
        "'hyperParameterTuningJobConfig.resourceLimits.maxParallelTrainingJobs' failed to satisfy "
        "constraint: Member must not be null",
    )


def test_every_broken_constraint_is_counted_and_located(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    config(request)["Strategy"] = "Exhaustive"
    config(request)["ResourceLimits"]["MaxRuntimeInSeconds"] = 100
    definition = request["TrainingJobDefinition"]
    definition["InputDataConfig"][1]["ChannelName"] = "validation set"
    definition["StaticHyperParameters"]["objective"] = "x" * 2501
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**request)
    _, message = error_of(excinfo)
    assert message.startswith("4 validation errors detected: ")
    assert (
        "at 'hyperParameterTuningJobConfig.strategy' failed to satisfy constraint: Member must satisfy enum "
        in (message)
    )
    assert "value set: [Bayesian, Random, Hyperband, Grid]" in message
    assert (
        "Value 100 at 'hyperParameterTuningJobConfig.resourceLimits.maxRuntimeInSeconds' failed to satisfy "
        "constraint: Member must have value greater than or equal to 120" in message
    )
    assert "Value 'validation set' at 'trainingJobDefinition.inputDataConfig.2.member.channelName'" in message
    assert (
        "at 'trainingJobDefinition.staticHyperParameters' failed to satisfy constraint: Map value must "
        in message
    )
    assert "Member must have length less than or equal to 2500" in message


def test_hyperparameter_values_must_be_strings(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    request["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"] = 1000
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**request)
    code, message = error_of(excinfo)
    assert code == "ValidationException"
    assert "Invalid type for parameter TrainingJobDefinition.StaticHyperParameters.num_round" in message


def test_a_reused_tuning_job_name_is_resource_in_use_whatever_its_case(
    tuned: tuple[Workspace, dict[str, Any]],
) -> None:
    space, description = tuned
    request = tuning_request(space.dataset, description["HyperParameterTuningJobName"].upper())
    with pytest.raises(ClientError) as excinfo:
        space.sagemaker.create_hyper_parameter_tuning_job(**request)
    code, message = error_of(excinfo)
    assert code == "ResourceInUse"
    assert description["HyperParameterTuningJobArn"] in message


def test_a_channel_without_objects_is_rejected_when_the_tuning_job_is_created(workspace: Workspace) -> None:
    dataset = {**workspace.dataset, "trainUri": f"s3://{workspace.bucket}/data/trian/"}
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**tuning_request(dataset))
    code, message = error_of(excinfo)
    assert code == "ValidationException"
    assert message.startswith(
        f'No S3 objects found under S3 URL "s3://{workspace.bucket}/data/trian/" given in input'
    )
    assert ROLE in message
    with pytest.raises(ClientError):
        workspace.sagemaker.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=dataset["tuningJobName"]
        )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda r: r["TrainingJobDefinition"]["AlgorithmSpecification"].update(
                TrainingImage="1.dkr.ecr/xgboost:latest"
            ),
            "legacy XGBoost",
        ),
        (
            lambda r: r["TrainingJobDefinition"]["AlgorithmSpecification"].update(
                TrainingImage="1.dkr.ecr/linear-learner:1"
            ),
            "not the built-in XGBoost",
        ),
        (
            lambda r: r["TrainingJobDefinition"]["StaticHyperParameters"].update(eta="0.3"),
            "both static and tuned: eta",
        ),
        (lambda r: config(r).update(Strategy="Hyperband"), "TrainingJobEarlyStoppingType must be Off"),
        (
            lambda r: config(r).update(Strategy="Hyperband", TrainingJobEarlyStoppingType="Off"),
            "needs HyperbandStrategyConfig.MaxResource",
        ),
        (lambda r: config(r).update(Strategy="Grid"), "searches categorical parameters only"),
        (
            lambda r: config(r)["ParameterRanges"]["ContinuousParameterRanges"][0].update(MinValue="0"),
            "Logarithmic scaling works only",
        ),
        (
            lambda r: config(r)["ParameterRanges"]["IntegerParameterRanges"][0].update(MinValue="11"),
            "greater than its MaxValue",
        ),
    ],
    ids=[
        "legacy-image",
        "other-algorithm",
        "static-and-tuned",
        "hyperband-early-stopping",
        "hyperband-no-max-resource",
        "grid-continuous",
        "log-scale-from-zero",
        "min-above-max",
    ],
)
def test_configurations_sagemaker_refuses_are_validation_errors(
    workspace: Workspace, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    request = tuning_request(workspace.dataset)
    change(request)
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**request)
    code, message = error_of(excinfo)
    assert code == "ValidationException"
    assert expected in message


def test_unknown_jobs_are_reported_as_sagemaker_does(workspace: Workspace) -> None:
    api = workspace.sagemaker
    with pytest.raises(ClientError) as excinfo:
        api.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="nope")
    assert error_of(excinfo)[0] == "ResourceNotFound"
    with pytest.raises(ClientError) as excinfo:
        api.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName="nope")
    assert error_of(excinfo)[0] == "ResourceNotFound"
    with pytest.raises(ClientError) as excinfo:
        api.describe_training_job(TrainingJobName="nope")
    assert error_of(excinfo) == ("ValidationException", "Requested resource not found.")
    with pytest.raises(ClientError) as excinfo:
        api.describe_model(ModelName="nope")
    assert error_of(excinfo) == (
        "ValidationException",
        f'Could not find model "arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model/nope".',
    )
    with pytest.raises(ClientError) as excinfo:
        api.describe_transform_job(TransformJobName="nope")
    assert error_of(excinfo)[0] == "ValidationException"


# --- tuning ------------------------------------------------------------------------------------------


def test_the_tuning_job_runs_every_trial_and_reports_the_best(
    tuned: tuple[Workspace, dict[str, Any]],
) -> None:
    space, description = tuned
    assert description["HyperParameterTuningJobStatus"] == "Completed"
    counters = description["TrainingJobStatusCounters"]
    assert counters["Completed"] + counters["Stopped"] == 4
    assert counters["NonRetryableError"] == counters["InProgress"] == 0
    assert description["ObjectiveStatusCounters"] == {"Succeeded": 4, "Pending": 0, "Failed": 0}
    summaries = space.training_jobs(description["HyperParameterTuningJobName"])
    assert len(summaries) == 4
    objectives = {
        s["TrainingJobName"]: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries
    }
    best = description["BestTrainingJob"]
    assert best["TrainingJobName"] == min(objectives, key=objectives.__getitem__)
    assert best["FinalHyperParameterTuningJobObjectiveMetric"] == {
        "Type": "Minimize",
        "MetricName": "validation:rmse",
        "Value": min(objectives.values()),
    }
    # Friedman #1 with noise 1: a tuned model is far better than predicting the mean (about 5).
    assert 0.8 < min(objectives.values()) < 3.0


def test_training_jobs_are_named_after_the_tuning_job_and_counted(
    tuned: tuple[Workspace, dict[str, Any]],
) -> None:
    space, description = tuned
    tuning_name = description["HyperParameterTuningJobName"]
    names = sorted(s["TrainingJobName"] for s in space.training_jobs(tuning_name))
    assert [n[: -len("-12345678")] for n in names] == [f"{tuning_name}-{i:03d}" for i in range(1, 5)]
    assert all(re.fullmatch(rf"{tuning_name}-\d{{3}}-[0-9a-f]{{8}}", n) for n in names)


def test_tuned_hyperparameters_are_strings_within_their_ranges(
    tuned: tuple[Workspace, dict[str, Any]],
) -> None:
    space, description = tuned
    ranges = config(tuning_request(space.dataset))["ParameterRanges"]
    for summary in space.training_jobs(description["HyperParameterTuningJobName"]):
        tuned_values = summary["TunedHyperParameters"]
        assert set(tuned_values) == {r["Name"] for kind in ranges.values() for r in kind}
        for item in ranges["ContinuousParameterRanges"]:
            value = float(tuned_values[item["Name"]])
            assert float(item["MinValue"]) <= value <= float(item["MaxValue"]), item["Name"]
        for item in ranges["IntegerParameterRanges"]:
            text = tuned_values[item["Name"]]
            assert re.fullmatch(r"-?\d+", text), text
            assert int(item["MinValue"]) <= int(text) <= int(item["MaxValue"])


def test_the_same_random_seed_gives_the_same_search_and_results(workspace: Workspace) -> None:
    def run(name: str) -> list[tuple[dict[str, str], float]]:
        workspace.tune(tuning_request(workspace.dataset, name))
        summaries = sorted(workspace.training_jobs(name), key=lambda s: s["TrainingJobName"])
        return [
            (s["TunedHyperParameters"], s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
            for s in summaries
        ]

    first, second = run("seeded-a"), run("seeded-b")
    assert first == second
    request = tuning_request(workspace.dataset, "seeded-c")
    config(request)["RandomSeed"] = 7
    workspace.tune(request)
    other = [s["TunedHyperParameters"] for s in workspace.training_jobs("seeded-c")]
    assert sorted(map(json.dumps, other)) != sorted(json.dumps(hp) for hp, _ in first)


def test_describe_training_job_gives_the_artifact_metrics_and_hyperparameters(
    tuned: tuple[Workspace, dict[str, Any]],
) -> None:
    space, description = tuned
    best = description["BestTrainingJob"]
    job = space.sagemaker.describe_training_job(TrainingJobName=best["TrainingJobName"])
    request = tuning_request(space.dataset)
    static = request["TrainingJobDefinition"]["StaticHyperParameters"]
    assert job["TrainingJobStatus"] == best["TrainingJobStatus"]
    assert job["TuningJobArn"] == description["HyperParameterTuningJobArn"]
    assert (
        job["TrainingJobArn"]
        == f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:training-job/{best['TrainingJobName']}"
    )
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == (
        f"{space.dataset['modelOutputUri']}{best['TrainingJobName']}/output/model.tar.gz"
    )
    assert job["HyperParameters"] == {
        **static,
        **best["TunedHyperParameters"],
        "_tuning_objective_metric": "validation:rmse",
    }
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert metrics["validation:rmse"] == best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert "train:rmse" in metrics
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][:4] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
    ]
    assert job["CreationTime"] <= job["TrainingStartTime"] <= job["TrainingEndTime"]
    assert "FailureReason" not in job


def test_the_model_artifact_is_the_containers_xgboost_model_and_predicts(
    tuned: tuple[Workspace, dict[str, Any]],
) -> None:
    space, description = tuned
    best = description["BestTrainingJob"]
    artifact = space.sagemaker.describe_training_job(TrainingJobName=best["TrainingJobName"])[
        "ModelArtifacts"
    ]
    with tarfile.open(fileobj=io.BytesIO(space.get(artifact["S3ModelArtifacts"])), mode="r:gz") as tar:
        assert tar.getnames() == ["xgboost-model"]
        member = tar.extractfile("xgboost-model")
        assert member is not None
        raw = member.read()
    assert raw[:1] == b"{"  # UBJSON, what Booster.save_model writes without an extension
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    assert booster.num_features() == FEATURES
    validation = np.array(space.validation)
    predictions = booster.predict(xgb.DMatrix(validation[:, 1:]))
    # The objective is the last validation RMSE emitted; early stopping keeps the best iteration's trees.
    assert (
        _rmse(predictions, list(validation[:, 0]))
        <= best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] + 1e-4
    )


def test_describe_responses_fit_botocores_output_shapes(
    best_model: tuple[Workspace, str, xgb.Booster], tuned: tuple[Workspace, dict[str, Any]]
) -> None:
    space, name, _ = best_model
    _, description = tuned
    api = space.sagemaker
    responses = {
        "DescribeHyperParameterTuningJob": description,
        "ListTrainingJobsForHyperParameterTuningJob": api.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=description["HyperParameterTuningJobName"]
        ),
        "DescribeTrainingJob": space.sagemaker.describe_training_job(TrainingJobName=name),
        "DescribeModel": space.sagemaker.describe_model(ModelName=name),
    }
    for operation, response in responses.items():
        shape = operation_model(operation).output_shape
        report = ParamValidator().validate(response, shape)
        assert not report.has_errors(), f"{operation}: {report.generate_report()}"
        assert constraint_errors(response, shape) == [], operation


def test_listing_sorts_filters_and_pages(tuned: tuple[Workspace, dict[str, Any]]) -> None:
    space, description = tuned
    api = space.sagemaker
    name = description["HyperParameterTuningJobName"]

    def listed(**kwargs: Any) -> list[dict[str, Any]]:
        return api.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name, **kwargs
        )["TrainingJobSummaries"]

    by_objective = [
        s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        for s in listed(SortBy="FinalObjectiveMetricValue")
    ]
    assert by_objective == sorted(by_objective) and len(by_objective) == 4
    descending = [
        s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        for s in listed(SortBy="FinalObjectiveMetricValue", SortOrder="Descending")
    ]
    assert descending == by_objective[::-1]
    assert (
        listed(SortBy="FinalObjectiveMetricValue", MaxResults=1)[0]["TrainingJobName"]
        == (description["BestTrainingJob"]["TrainingJobName"])
    )
    names = [s["TrainingJobName"] for s in listed()]  # default: by name, ascending
    assert names == sorted(names)
    created = [s["CreationTime"] for s in listed(SortBy="CreationTime", SortOrder="Descending")]
    assert created == sorted(created, reverse=True)

    pages, token = [], None
    while True:
        page = api.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name, MaxResults=3, **({"NextToken": token} if token else {})
        )
        pages.append([s["TrainingJobName"] for s in page["TrainingJobSummaries"]])
        token = page.get("NextToken")
        if not token:
            break
    assert pages == [names[:3], names[3:]]

    for status in ("Completed", "Stopped", "Failed"):
        assert all(s["TrainingJobStatus"] == status for s in listed(StatusEquals=status))
    assert len(listed(StatusEquals="Completed")) == description["TrainingJobStatusCounters"]["Completed"]
    with pytest.raises(ClientError) as excinfo:
        listed(NextToken="not-a-token")
    assert error_of(excinfo) == ("ValidationException", "Invalid pagination token")


def test_the_listener_hears_every_job_with_json_safe_data(tuned: tuple[Workspace, dict[str, Any]]) -> None:
    space, description = tuned
    events = [
        e
        for e in space.events
        if e[1].get("tuningJob", e[1].get("name")) == description["HyperParameterTuningJobName"]
        or e[0] == "tuning_job_completed"
    ]
    kinds = [kind for kind, _ in events]
    assert kinds.count("training_job_started") == 4
    assert kinds.count("training_job_completed") == 4
    assert kinds[-1] == "tuning_job_completed"
    # Two jobs asked at once, as MaxParallelTrainingJobs says: both start before either finishes.
    assert kinds[:4] == [
        "training_job_started",
        "training_job_started",
        "training_job_completed",
        "training_job_completed",
    ]
    completed = [data for kind, data in events if kind == "training_job_completed"]
    assert all(
        d["objective"]["name"] == "validation:rmse" and d["status"] in ("Completed", "Stopped")
        for d in completed
    )
    assert completed[-1]["bestSoFar"]["name"] == description["BestTrainingJob"]["TrainingJobName"]
    final = events[-1][1]
    assert final["status"] == "Completed"
    assert final["bestTrainingJob"]["name"] == description["BestTrainingJob"]["TrainingJobName"]


def test_a_training_job_that_fails_does_not_count_for_the_best(workspace: Workspace) -> None:
    workspace.sagemaker.fail_training_jobs_when(
        lambda name, hyperparameters: (
            "ClientError: injected" if name.split("-")[-2] in ("001", "003") else None
        )
    )
    description = workspace.tune(tuning_request(workspace.dataset))
    assert description["HyperParameterTuningJobStatus"] == "Completed"
    assert description["TrainingJobStatusCounters"]["NonRetryableError"] == 2
    assert description["ObjectiveStatusCounters"] == {"Succeeded": 2, "Pending": 0, "Failed": 2}
    failed = workspace.training_jobs(workspace.dataset["tuningJobName"])
    failed = [s for s in failed if s["TrainingJobStatus"] == "Failed"]
    assert {s["FailureReason"] for s in failed} == {"ClientError: injected"}
    assert all(
        "FinalHyperParameterTuningJobObjectiveMetric" not in s and s["ObjectiveStatus"] == "Failed"
        for s in failed
    )
    assert description["BestTrainingJob"]["TrainingJobName"].split("-")[-2] in ("002", "004")


def test_unreadable_training_data_fails_every_job_and_the_tuning_job(workspace: Workspace) -> None:
    # One field a line: csv.Sniffer takes a letter of the header for the delimiter, which XGBoost's reader
    # then does not find on line 2.
    workspace.put("data/train/train.csv", b"label\n1\n")
    description = workspace.tune(tuning_request(workspace.dataset))
    assert description["HyperParameterTuningJobStatus"] == "Failed"
    assert "BestTrainingJob" not in description
    assert description["FailureReason"] == (
        "No training job succeeded after 4 attempts. For additional details, please take a look at the "
        "training job failures by listing training jobs for the hyperparameter tuning job."
    )
    assert description["TrainingJobStatusCounters"]["NonRetryableError"] == 4
    for summary in workspace.training_jobs(workspace.dataset["tuningJobName"]):
        assert summary["TrainingJobStatus"] == "Failed"
        assert summary["FailureReason"].startswith("ClientError: Failed to load csv data")
        assert f"s3://{workspace.bucket}/data/train/train.csv line 2" in summary["FailureReason"]
        job = workspace.sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])
        assert "ModelArtifacts" not in job and job["SecondaryStatus"] == "Failed"


def test_an_empty_training_file_fails_the_jobs_with_the_containers_reason(workspace: Workspace) -> None:
    workspace.put("data/train/train.csv", b"")
    description = workspace.tune(tuning_request(workspace.dataset))
    assert description["HyperParameterTuningJobStatus"] == "Failed"
    reasons = {s["FailureReason"] for s in workspace.training_jobs(workspace.dataset["tuningJobName"])}
    assert reasons == {"ClientError: No data in train channel path /opt/ml/input/data/train"}


def test_five_failed_jobs_without_a_success_end_the_tuning_job(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    config(request)["ResourceLimits"].update(MaxNumberOfTrainingJobs=12, MaxParallelTrainingJobs=1)
    workspace.sagemaker.fail_training_jobs_when(lambda name, hyperparameters: "AlgorithmError: injected")
    description = workspace.tune(request)
    assert description["HyperParameterTuningJobStatus"] == "Failed"
    assert description["FailureReason"].startswith("No training job succeeded after 5 attempts.")
    assert description["TrainingJobStatusCounters"]["NonRetryableError"] == 5


def test_the_containers_hyperparameter_checks_fail_the_jobs(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    request["TrainingJobDefinition"]["StaticHyperParameters"]["precision_dtype"] = "float32"
    description = workspace.tune(request)
    assert description["HyperParameterTuningJobStatus"] == "Failed"
    reasons = {s["FailureReason"] for s in workspace.training_jobs(workspace.dataset["tuningJobName"])}
    assert reasons == {"ClientError: Extraneous hyperparameter found: precision_dtype"}

    request = tuning_request(workspace.dataset, "no-num-round")
    del request["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"]
    workspace.tune(request)
    reasons = {s["FailureReason"] for s in workspace.training_jobs("no-num-round")}
    assert reasons == {"ClientError: Missing required hyperparameter: num_round"}


def test_a_target_objective_value_ends_the_tuning_job_once_reached(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    config(request)["TuningJobCompletionCriteria"] = {"TargetObjectiveMetricValue": 100.0}
    description = workspace.tune(request)
    assert description["HyperParameterTuningJobStatus"] == "Completed"
    assert len(workspace.training_jobs(request["HyperParameterTuningJobName"])) == 2  # the first batch


def test_without_the_objectives_channel_no_job_reports_an_objective(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    channels = request["TrainingJobDefinition"]["InputDataConfig"]
    channels[:] = [c for c in channels if c["ChannelName"] != "validation"]
    description = workspace.tune(request)
    assert description["HyperParameterTuningJobStatus"] == "Failed"
    assert description["FailureReason"].startswith(
        "No training job emitted the objective metric validation:rmse."
    )
    assert description["TrainingJobStatusCounters"]["Completed"] == 4
    assert description["ObjectiveStatusCounters"]["Failed"] == 4
    assert "BestTrainingJob" not in description


def test_a_grid_search_runs_every_categorical_combination_once(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    config(request).update(
        Strategy="Grid",
        ParameterRanges={
            "CategoricalParameterRanges": [
                {"Name": "max_depth", "Values": ["2", "4", "6"]},
                {"Name": "eta", "Values": ["0.1", "0.3"]},
            ]
        },
    )
    del config(request)["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    description = workspace.tune(request)
    assert description["HyperParameterTuningJobStatus"] == "Completed"
    combinations = {
        (s["TunedHyperParameters"]["max_depth"], s["TunedHyperParameters"]["eta"])
        for s in workspace.training_jobs(workspace.dataset["tuningJobName"])
    }
    assert combinations == {(d, e) for d in ("2", "4", "6") for e in ("0.1", "0.3")}

    config(request)["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 5
    request["HyperParameterTuningJobName"] = "grid-too-few"
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**request)
    assert "must equal the number of distinct categorical combinations (6)" in error_of(excinfo)[1]


def test_hyperband_caps_boosting_rounds_at_max_resource(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    config(request).update(
        Strategy="Hyperband",
        TrainingJobEarlyStoppingType="Off",
        StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 5, "MaxResource": 40}},
    )
    config(request)["ResourceLimits"].update(MaxNumberOfTrainingJobs=6, MaxParallelTrainingJobs=2)
    description = workspace.tune(request)
    assert description["HyperParameterTuningJobStatus"] == "Completed"
    completed = [e for kind, e in workspace.events if kind == "training_job_completed"]
    assert len(completed) == 6
    assert all(1 <= e["rounds"] <= 40 for e in completed)
    assert any(e["rounds"] == 40 for e in completed)


def test_stopping_the_tuning_job_launches_no_more_jobs(workspace: Workspace) -> None:
    def stop_after_first(event: str, data: dict[str, Any]) -> None:
        if event == "training_job_completed" and data["index"] == 1:
            workspace.sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=data["tuningJob"])

    workspace.sagemaker.listener = stop_after_first
    request = tuning_request(workspace.dataset)
    config(request)["ResourceLimits"]["MaxParallelTrainingJobs"] = 1
    description = workspace.tune(request)
    assert description["HyperParameterTuningJobStatus"] == "Stopped"
    assert description["TrainingJobStatusCounters"] == {
        "Completed": 1,
        "InProgress": 0,
        "RetryableError": 0,
        "NonRetryableError": 0,
        "Stopped": 0,
    }
    assert "BestTrainingJob" in description
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.stop_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=request["HyperParameterTuningJobName"]
        )
    assert error_of(excinfo)[0] == "ValidationException"


def test_stopping_the_tuning_job_stops_its_running_jobs(workspace: Workspace) -> None:
    def stop_when_the_batch_starts(event: str, data: dict[str, Any]) -> None:
        if event == "training_job_started" and data["index"] == 2:
            workspace.sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=data["tuningJob"])

    workspace.sagemaker.listener = stop_when_the_batch_starts
    description = workspace.tune(tuning_request(workspace.dataset))
    assert description["HyperParameterTuningJobStatus"] == "Stopped"
    assert description["TrainingJobStatusCounters"]["Stopped"] == 2
    assert sum(description["TrainingJobStatusCounters"].values()) == 2


# --- search space and early stopping, in isolation ---------------------------------------------------


def test_scaling_types_map_to_optuna_distributions_and_back_to_strings() -> None:
    space = hpo.search_space(
        {
            "ContinuousParameterRanges": [
                {"Name": "lin", "MinValue": "0", "MaxValue": "5", "ScalingType": "Linear"},
                {"Name": "log", "MinValue": "0.001", "MaxValue": "10", "ScalingType": "Logarithmic"},
                {"Name": "rev", "MinValue": "0.5", "MaxValue": "0.999", "ScalingType": "ReverseLogarithmic"},
                {"Name": "auto", "MinValue": "1", "MaxValue": "2"},
            ],
            "IntegerParameterRanges": [
                {"Name": "depth", "MinValue": "1", "MaxValue": "10", "ScalingType": "Logarithmic"}
            ],
            "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}],
        },
        "Random",
    )
    by_name = {p.name: p for p in space}
    assert by_name["log"].distribution().log and not by_name["lin"].distribution().log
    assert not by_name["auto"].distribution().log
    assert isinstance(by_name["depth"].distribution(), optuna.distributions.IntDistribution)
    assert by_name["depth"].distribution().log

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    distributions = {p.name: p.distribution() for p in space}
    samples = [study.ask(distributions).params for _ in range(400)]
    values = {name: [float(by_name[name].value(s[name])) for s in samples] for name in ("log", "rev")}
    assert all(0.001 <= v <= 10 for v in values["log"]) and all(0.5 <= v <= 0.999 for v in values["rev"])
    # A log scale puts half the samples below the geometric mean of the bounds (0.1), a linear one about 1%.
    assert 0.35 < np.mean(np.array(values["log"]) < 0.1) < 0.65
    # Reverse log crowds samples towards the top: half are above 1 - sqrt(0.5 * 0.001) ~ 0.978.
    assert 0.35 < np.mean(np.array(values["rev"]) > 1 - math.sqrt(0.5 * 0.001)) < 0.65
    assert {by_name["depth"].value(s["depth"]) for s in samples} <= {str(i) for i in range(1, 11)}
    assert {by_name["booster"].value(s["booster"]) for s in samples} == {"gbtree", "dart"}


def _trial_at(values: list[float]) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        state=optuna.trial.TrialState.PRUNED, intermediate_values=dict(enumerate(values))
    )


def test_early_stopping_stops_a_job_worse_than_the_median_of_previous_running_averages() -> None:
    pruner = hpo.RunningAverageMedianPruner(maximize=False, min_previous_jobs=3, min_epochs=2)
    study = optuna.create_study()
    for history in ([4.0, 2.0, 1.0], [5.0, 3.0, 2.0], [6.0, 4.0, 3.0]):
        pruner.record_finished(history)
    # Running averages at epoch 2 (the third): 7/3, 10/3, 13/3 -> median 10/3.
    assert not pruner.prune(study, _trial_at([9.0, 9.0, 9.0])), "previous jobs count only from the next batch"
    pruner.start_batch()
    assert pruner.prune(study, _trial_at([9.0, 9.0, 3.4]))
    assert not pruner.prune(study, _trial_at([9.0, 9.0, 3.3]))
    assert not pruner.prune(study, _trial_at([9.0])), "no stopping before min_epochs"
    assert not pruner.prune(study, _trial_at([9.0, 9.0, 9.0, 9.0])), "no previous job reached epoch 3"
    maximizing = hpo.RunningAverageMedianPruner(maximize=True, min_previous_jobs=1, min_epochs=1)
    maximizing.record_finished([0.5, 0.7])
    maximizing.start_batch()
    assert maximizing.prune(study, _trial_at([0.2, 0.5])) and not maximizing.prune(
        study, _trial_at([0.2, 0.7])
    )


def test_early_stopped_jobs_are_stopped_and_their_objective_counts(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    config(request)["ResourceLimits"].update(MaxNumberOfTrainingJobs=10, MaxParallelTrainingJobs=1)
    config(request)["Strategy"] = "Random"
    description = workspace.tune(request)
    summaries = workspace.training_jobs(workspace.dataset["tuningJobName"])
    stopped = [s for s in summaries if s["TrainingJobStatus"] == "Stopped"]
    assert stopped, "with 10 random configurations some are worse than the median and are stopped"
    assert description["TrainingJobStatusCounters"]["Stopped"] == len(stopped)
    for summary in stopped:
        assert summary["ObjectiveStatus"] == "Succeeded"
        assert "Value" in summary["FinalHyperParameterTuningJobObjectiveMetric"]
        job = workspace.sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])
        assert job["SecondaryStatus"] == "Stopped" and "S3ModelArtifacts" in job["ModelArtifacts"]
    assert description["ObjectiveStatusCounters"]["Succeeded"] == 10


# --- models ------------------------------------------------------------------------------------------


def test_create_model_needs_the_model_data_in_s3(workspace: Workspace) -> None:
    url = f"s3://{workspace.bucket}/models/missing/output/model.tar.gz"
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_model(**model_request("missing", url))
    assert error_of(excinfo) == ("ValidationException", f"Could not find model data at {url}.")


def test_a_model_arn_carries_the_name_in_lower_case_and_names_are_unique(workspace: Workspace) -> None:
    workspace.put("models/m/output/model.tar.gz", b"not used until a transform")
    url = f"s3://{workspace.bucket}/models/m/output/model.tar.gz"
    response = workspace.sagemaker.create_model(**model_request("Tuned-Model-1", url))
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model/tuned-model-1"
    assert response == {"ModelArn": arn}
    assert workspace.sagemaker.describe_model(ModelName="Tuned-Model-1")["ModelArn"] == arn
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_model(**model_request("Tuned-Model-1", url))
    assert error_of(excinfo) == ("ValidationException", f'Cannot create already existing model "{arn}".')
    assert [e for e in workspace.events if e[0] == "model_created"] == [
        ("model_created", {"name": "Tuned-Model-1", "arn": arn, "modelDataUrl": url, "image": IMAGE})
    ]


# --- batch transform ---------------------------------------------------------------------------------


def test_the_transform_writes_one_prediction_per_record_from_the_model(
    best_model: tuple[Workspace, str, xgb.Booster],
) -> None:
    space, name, booster = best_model
    request = transform_request(space.dataset, name, "plain-" + uuid.uuid4().hex[:6])
    space.sagemaker.create_transform_job(**request)
    job = space.sagemaker.describe_transform_job(TransformJobName=request["TransformJobName"])
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["TransformJobArn"].endswith(f":transform-job/{request['TransformJobName']}")
    shape = operation_model("DescribeTransformJob").output_shape
    assert not ParamValidator().validate(job, shape).has_errors()
    assert constraint_errors(job, shape) == []
    lines = space.get(f"{space.dataset['transformOutputUri']}test.csv.out").decode().splitlines()
    assert len(lines) == TEST_ROWS
    expected = booster.predict(xgb.DMatrix(np.array([row[1:] for row in space.test], dtype=np.float32)))
    assert np.allclose([float(v) for v in lines], expected, rtol=1e-6, atol=1e-5)
    assert _rmse(np.array([float(v) for v in lines]), [row[0] for row in space.test]) < 3.0


def test_data_processing_drops_the_label_joins_the_input_and_filters_the_output(
    best_model: tuple[Workspace, str, xgb.Booster],
) -> None:
    space, name, booster = best_model
    dataset = {
        **space.dataset,
        "testUri": f"s3://{space.bucket}/data/test-with-labels/",
        "transformOutputUri": f"s3://{space.bucket}/joined/",
    }
    request = transform_request(dataset, name, "joined-" + uuid.uuid4().hex[:6])
    request["DataProcessing"] = {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}
    space.sagemaker.create_transform_job(**request)
    job = space.sagemaker.describe_transform_job(TransformJobName=request["TransformJobName"])
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    rows = [
        line.split(",")
        for line in space.get(f"s3://{space.bucket}/joined/test.csv.out").decode().splitlines()
    ]
    assert len(rows) == TEST_ROWS and {len(r) for r in rows} == {2}
    assert [float(r[0]) for r in rows] == pytest.approx([row[0] for row in space.test], abs=1e-6)
    expected = booster.predict(xgb.DMatrix(np.array([row[1:] for row in space.test], dtype=np.float32)))
    assert np.allclose([float(r[1]) for r in rows], expected, rtol=1e-6, atol=1e-5)


def test_a_record_with_too_many_features_fails_the_transform_job(
    best_model: tuple[Workspace, str, xgb.Booster],
) -> None:
    space, name, _ = best_model
    space.put("wide/test.csv", _csv([[*row, 0.5] for row in space.test]))  # label + 10 features + 1
    dataset = {
        **space.dataset,
        "testUri": f"s3://{space.bucket}/wide/",
        "transformOutputUri": f"s3://{space.bucket}/wide-out/",
    }
    request = transform_request(dataset, name, "wide-" + uuid.uuid4().hex[:6])
    space.sagemaker.create_transform_job(**request)
    job = space.sagemaker.describe_transform_job(TransformJobName=request["TransformJobName"])
    assert job["TransformJobStatus"] == "Failed"
    # XGBoost's own check (the container checks the count itself only for pickled models).
    assert "Number of columns does not match number of features in booster" in job["FailureReason"]
    assert f"s3://{space.bucket}/wide/test.csv" in job["FailureReason"]
    assert space.s3.list_objects_v2(Bucket=space.bucket, Prefix="wide-out/")["KeyCount"] == 0


def test_a_record_one_feature_short_is_accepted_as_the_container_does(
    best_model: tuple[Workspace, str, xgb.Booster],
) -> None:
    space, name, _ = best_model
    dataset = {**space.dataset, "transformOutputUri": f"s3://{space.bucket}/short-out/"}
    request = transform_request(dataset, name, "short-" + uuid.uuid4().hex[:6])
    request["DataProcessing"] = {"InputFilter": "$[1:]"}  # the test file has no label: this drops a feature
    space.sagemaker.create_transform_job(**request)
    job = space.sagemaker.describe_transform_job(TransformJobName=request["TransformJobName"])
    assert job["TransformJobStatus"] == "Completed"
    assert len(space.get(f"s3://{space.bucket}/short-out/test.csv.out").decode().splitlines()) == TEST_ROWS


def test_assemble_with_none_concatenates_single_record_responses(
    best_model: tuple[Workspace, str, xgb.Booster],
) -> None:
    space, name, booster = best_model
    dataset = {**space.dataset, "transformOutputUri": f"s3://{space.bucket}/glued/"}
    request = transform_request(dataset, name, "glued-" + uuid.uuid4().hex[:6])
    request["BatchStrategy"] = "SingleRecord"
    request["TransformOutput"]["AssembleWith"] = "None"
    space.sagemaker.create_transform_job(**request)
    body = space.get(f"s3://{space.bucket}/glued/test.csv.out").decode()
    # One response per record, each the bare prediction: nothing separates them (a known pitfall).
    predictions = booster.predict(xgb.DMatrix(np.array([row[1:] for row in space.test], dtype=np.float32)))
    # The container writes str() of each prediction widened to a Python float (serve.py, batch mode).
    assert body == "".join(str(float(p)) for p in predictions)


def test_a_failed_transform_job_can_be_injected_by_name(
    best_model: tuple[Workspace, str, xgb.Booster],
) -> None:
    space, name, _ = best_model
    doomed = "doomed-" + uuid.uuid4().hex[:6]
    space.sagemaker.fail_transform_job("ClientError: injected transform failure", name=doomed)
    space.sagemaker.create_transform_job(
        **transform_request(
            {**space.dataset, "transformOutputUri": f"s3://{space.bucket}/doomed/"}, name, doomed
        )
    )
    job = space.sagemaker.describe_transform_job(TransformJobName=doomed)
    assert (job["TransformJobStatus"], job["FailureReason"]) == (
        "Failed",
        "ClientError: injected transform failure",
    )
    assert space.s3.list_objects_v2(Bucket=space.bucket, Prefix="doomed/")["KeyCount"] == 0
    spared = "spared-" + uuid.uuid4().hex[:6]
    space.sagemaker.create_transform_job(
        **transform_request(
            {**space.dataset, "transformOutputUri": f"s3://{space.bucket}/spared/"}, name, spared
        )
    )
    assert (
        space.sagemaker.describe_transform_job(TransformJobName=spared)["TransformJobStatus"] == "Completed"
    )
    with pytest.raises(ClientError) as excinfo:
        space.sagemaker.create_transform_job(**transform_request(space.dataset, name, spared))
    assert error_of(excinfo)[0] == "ResourceInUse"


# --- faults, dispatch, tags --------------------------------------------------------------------------


def test_an_injected_fault_is_raised_the_given_number_of_times(workspace: Workspace) -> None:
    workspace.put("models/m/output/model.tar.gz", b"x")
    request = model_request("faulty", f"s3://{workspace.bucket}/models/m/output/model.tar.gz")
    workspace.sagemaker.inject_fault("CreateModel", "ThrottlingException", "Rate exceeded", times=2)
    for _ in range(2):
        with pytest.raises(ClientError) as excinfo:
            workspace.sagemaker.create_model(**copy.deepcopy(request))
        assert error_of(excinfo) == ("ThrottlingException", "Rate exceeded")
        assert excinfo.value.operation_name == "CreateModel"
    assert workspace.sagemaker.create_model(**request)["ModelArn"].endswith(":model/faulty")

    workspace.sagemaker.inject_fault("create_hyper_parameter_tuning_job", "ResourceLimitExceeded")
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.call("CreateHyperParameterTuningJob", tuning_request(workspace.dataset))
    assert error_of(excinfo)[0] == "ResourceLimitExceeded"
    with pytest.raises(ValueError, match="unknown operation"):
        workspace.sagemaker.inject_fault("CreateEndpoint", "ThrottlingException")


def test_call_dispatches_by_api_name(workspace: Workspace) -> None:
    workspace.put("models/m/output/model.tar.gz", b"x")
    url = f"s3://{workspace.bucket}/models/m/output/model.tar.gz"
    assert workspace.sagemaker.call("CreateModel", model_request("dispatched", url))["ModelArn"].endswith(
        "/dispatched"
    )
    assert workspace.sagemaker.call("DescribeModel", {"ModelName": "dispatched"})["ModelName"] == "dispatched"
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.call("CreateEndpoint", {"EndpointName": "e", "EndpointConfigName": "c"})
    assert error_of(excinfo)[0] == "UnknownOperationException"


def test_tags_are_kept_per_resource(workspace: Workspace) -> None:
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model/tagged"
    tags = [
        {
            "Key": "AWS_STEP_FUNCTIONS_EXECUTION_ARN",
            "Value": "arn:aws:states:us-east-1:123456789012:execution:m:e",
        }
    ]
    assert workspace.sagemaker.add_tags(ResourceArn=arn, Tags=tags) == {"Tags": tags}
    workspace.sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ml"}])
    assert workspace.sagemaker.list_tags(ResourceArn=arn)["Tags"] == [*tags, {"Key": "team", "Value": "ml"}]
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.add_tags(ResourceArn="not-an-arn", Tags=tags)
    assert error_of(excinfo)[0] == "ValidationException"


# --- cost controls: completion criteria, managed spot training, checkpoints --------------------------------


def test_best_objective_not_improving_launches_no_more_jobs_and_is_reported(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    config(request)["ResourceLimits"].update(MaxNumberOfTrainingJobs=30, MaxParallelTrainingJobs=1)
    config(request)["TuningJobCompletionCriteria"] = {
        "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}
    }

    description = workspace.tune(request)

    launched = len(workspace.training_jobs(request["HyperParameterTuningJobName"]))
    assert description["HyperParameterTuningJobStatus"] == "Completed"
    assert 4 <= launched < 30, "stopped once 3 jobs in a row did not improve the best"
    assert description["TuningJobCompletionDetails"]["NumberOfTrainingJobsObjectiveNotImproving"] == 3
    assert "BestTrainingJob" in description


def test_spot_training_jobs_report_spot_billable_time_and_their_checkpoints(workspace: Workspace) -> None:
    request = tuning_request(workspace.dataset)
    definition = request["TrainingJobDefinition"]
    definition["EnableManagedSpotTraining"] = True
    definition["StoppingCondition"] = {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    # The definition sends none (run_config.py says why), but SageMaker accepts one and so does the emulator.
    definition["CheckpointConfig"] = {"S3Uri": "s3://example-bucket/checkpoints/"}

    description = workspace.tune(request)

    assert description["HyperParameterTuningJobStatus"] == "Completed"
    assert description["TrainingJobDefinition"]["EnableManagedSpotTraining"] is True
    job = workspace.sagemaker.describe_training_job(
        TrainingJobName=description["BestTrainingJob"]["TrainingJobName"]
    )
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert job["CheckpointConfig"] == definition["CheckpointConfig"]
    assert job["CheckpointConfig"]["S3Uri"].endswith("/checkpoints/")
    assert 1 <= job["BillableTimeInSeconds"] <= job["TrainingTimeInSeconds"]


def test_on_demand_jobs_bill_their_whole_training_time(tuned: tuple[Workspace, dict[str, Any]]) -> None:
    space, description = tuned
    job = space.sagemaker.describe_training_job(
        TrainingJobName=description["BestTrainingJob"]["TrainingJobName"]
    )

    assert job["EnableManagedSpotTraining"] is False
    assert job["BillableTimeInSeconds"] == job["TrainingTimeInSeconds"]


@pytest.mark.parametrize(
    ("spot", "stopping", "words"),
    [
        (
            True,
            {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 1800},
            "MaxWaitTimeInSeconds (1800) must be equal to or greater than MaxRuntimeInSeconds (3600)",
        ),
        (
            True,
            {"MaxRuntimeInSeconds": 3600},
            "MaxWaitTimeInSeconds is required when EnableManagedSpotTraining is true",
        ),
        (
            False,
            {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
            "MaxWaitTimeInSeconds is only supported with managed spot training",
        ),
    ],
)
def test_spot_settings_sagemaker_refuses_are_validation_errors(
    workspace: Workspace, spot: bool, stopping: dict[str, int], words: str
) -> None:
    request = tuning_request(workspace.dataset)
    request["TrainingJobDefinition"].update(EnableManagedSpotTraining=spot, StoppingCondition=stopping)

    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**request)

    assert error_of(excinfo) == ("ValidationException", words)
    assert workspace.events == [], "no training job may start"


def test_the_definitions_hyperband_config_is_accepted_and_stops_jobs_itself(workspace: Workspace) -> None:
    parameters = _definition()["States"]["HyperparameterTuning (XGBoost)"]["Parameters"]
    checkpoints = {"S3Uri": workspace.dataset["modelOutputUri"].removesuffix("models/") + "checkpoints/"}
    tuning = {key: value for key, value in CONFIG["tuning"].items() if key != "TuningJobCompletionCriteria"}
    hyperband = {
        "tuning": {
            **tuning,
            "Strategy": "Hyperband",
            "TrainingJobEarlyStoppingType": "Off",
            "StrategyConfig": SEARCH["StrategyConfig"],
        },
        "training": {**CONFIG["training"], "checkpointConfig": checkpoints},
    }
    request = _resolve(parameters, {"dataset": workspace.dataset, "config": hyperband})

    description = workspace.tune(request)

    assert description["HyperParameterTuningJobStatus"] == "Completed"
    assert config(description)["StrategyConfig"]["HyperbandStrategyConfig"]["MaxResource"] == int(
        request["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"]
    )
    # The same request with SageMaker's early stopping is refused.
    config(request)["TrainingJobEarlyStoppingType"] = "Auto"
    request["HyperParameterTuningJobName"] += "-auto"
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_hyper_parameter_tuning_job(**request)
    assert error_of(excinfo) == (
        "ValidationException",
        "TrainingJobEarlyStoppingType must be Off to use the Hyperband strategy",
    )
