"""Bring your own data, end to end on the offline engine: the real definition, handlers and emulator.

The stack is deployed with ``ExternalDataBuckets`` naming a bucket outside the stack; the engine's moto
account gets that bucket (as the user's account would have it) with three CSV files in it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import pytest

from offline.engine import Engine
from offline.template import Stack
from tests.offline.conftest import FEW_JOBS

# Own data has no noise floor: with no threshold the gate is off and the run goes on to Succeeded.
from tests.offline.workflow_support import HAPPY_PATH
from tests.static.support import allowing_statements, as_list, role_statements

EXTERNAL = "example-ml-datasets"
PARAMETERS = {**FEW_JOBS, "ExternalDataBuckets": f"{EXTERNAL},second-team-data"}


def csv_rows(count: int, rng: random.Random) -> str:
    """A regression problem of its own (not the generator's): y = 3 x1 - 2 x2 + x3^2 + noise, label first."""
    lines = []
    for _ in range(count):
        x = [rng.uniform(-1, 1) for _ in range(4)]
        y = 3 * x[0] - 2 * x[1] + x[2] ** 2 + rng.gauss(0, 0.1)
        lines.append(",".join(f"{v:.5f}" for v in (y, *x)))
    return "\n".join(lines) + "\n"


@pytest.fixture
def own_engine(make_engine: Callable[..., Engine]) -> Engine:
    engine = make_engine(parameters=PARAMETERS)
    engine.s3.create_bucket(Bucket=EXTERNAL)
    return engine


def upload(engine: Engine, files: dict[str, str]) -> dict[str, str]:
    data = {}
    for role, body in files.items():
        key = f"housing/{role.removesuffix('Uri')}.csv"
        engine.s3.put_object(Bucket=EXTERNAL, Key=key, Body=body.encode())
        data[role] = f"s3://{EXTERNAL}/{key}"
    return data


def good_files() -> dict[str, str]:
    rng = random.Random(11)
    return {
        "trainUri": csv_rows(400, rng),
        "validationUri": csv_rows(100, rng),
        "testUri": csv_rows(100, rng),
    }


def policies_of(stack: Stack, role: str) -> list[dict[str, Any]]:
    """A role's statements: its inline policies and the AWS::IAM::Policy resources attached to it."""
    statements = role_statements(stack, role) if role in stack.resources else []
    if role.endswith("FunctionRole"):
        function = stack.resources[role.removesuffix("Role")]["Properties"]
        statements += [
            s for policy in function.get("Policies", []) for s in as_list(stack.resolve(policy["Statement"]))
        ]
    name = stack.ref(role)
    for resource in stack.resources.values():
        if resource["Type"] == "AWS::IAM::Policy" and name in stack.resolve(resource["Properties"]["Roles"]):
            statements += as_list(stack.resolve(resource["Properties"]["PolicyDocument"])["Statement"])
    return statements


def test_own_data_in_a_listed_bucket_is_tuned_in_place_and_predicted(own_engine: Engine) -> None:
    data = upload(own_engine, good_files())

    result = own_engine.run({"data": data}, name="own-data")

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.states_entered() == HAPPY_PATH
    output = result.output
    assert output["input"] == {"data": data}
    dataset = output["dataset"]
    assert dataset["source"] == "s3"
    gate = output["evaluation"]["qualityGate"]
    # Own data has no noise floor: only a configured threshold (here the template's MaxTestRmse) gates it.
    assert gate["noiseFloorRmse"] is None
    assert (gate["enabled"], gate["source"], gate["threshold"]) == (True, "template", 5.0)
    tuning = next(r for r in own_engine.sagemaker_requests if r.operation == "CreateHyperParameterTuningJob")
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
        for c in tuning.parameters["TrainingJobDefinition"]["InputDataConfig"]
    }
    # SageMaker reads the user's files where they are; only the split test file is under the run prefix.
    assert channels == {"train": data["trainUri"], "validation": data["validationUri"]}
    assert output["transform"]["inputUri"] == dataset["testUri"]
    assert dataset["testUri"].startswith(f"s3://{own_engine.bucket}/{dataset['prefix']}")
    labels = [float(v) for v in own_engine.read_s3(dataset["testLabelsUri"] + "test.csv").split()]
    predictions = [
        float(v) for v in own_engine.read_s3(output["transform"]["outputUri"] + "test.csv.out").split()
    ]
    assert len(predictions) == len(labels) == 100
    rmse = math.sqrt(sum((p - y) ** 2 for p, y in zip(predictions, labels, strict=True)) / len(labels))
    spread = math.sqrt(sum((y - sum(labels) / len(labels)) ** 2 for y in labels) / len(labels))
    assert rmse < spread / 2, "the model learnt the user's data (predicting the mean would give the spread)"
    # The stack grants the reads this run made: the function and SageMaker on the listed bucket.
    stack = own_engine.stack
    for role in ("GenerateDatasetFunctionRole", "SageMakerExecutionRole"):
        statements = policies_of(stack, role)
        for uri in data.values():
            key = uri.removeprefix(f"s3://{EXTERNAL}/")
            assert allowing_statements(statements, "s3:GetObject", f"arn:aws:s3:::{EXTERNAL}/{key}"), (
                role,
                uri,
            )
        assert allowing_statements(statements, "s3:ListBucket", f"arn:aws:s3:::{EXTERNAL}"), role
        assert not allowing_statements(
            statements, "s3:GetObject", "arn:aws:s3:::not-listed/housing/train.csv"
        )


@pytest.mark.parametrize(
    ("change", "error", "cause"),
    [
        pytest.param(
            {"testUri": "0.1,0.2,0.3,0.4\n"},
            "OwnDataInvalid",
            "line 1: 4 columns, the training file has 5",
            id="test-file-without-label",
        ),
        pytest.param({"trainUri": ""}, "OwnDataInvalid", "the object is empty", id="empty-train-file"),
    ],
)
def test_bad_own_data_fails_in_the_invalid_input_state_with_a_cause_naming_the_file(
    own_engine: Engine, change: dict[str, str], error: str, cause: str
) -> None:
    data = upload(own_engine, {**good_files(), **change})

    result = own_engine.run({"data": data}, name="bad-own-data")

    assert result.status == "FAILED"
    assert result.states_entered() == ["Generate Training Dataset", "Invalid Execution Input"]
    assert result.error == error
    assert cause in result.cause
    assert data[next(iter(change))] in result.cause
    assert own_engine.list_s3(f"s3://{own_engine.bucket}/runs/") == []


def test_own_data_in_a_bucket_the_stack_does_not_list_fails_naming_the_parameter(own_engine: Engine) -> None:
    own_engine.s3.create_bucket(Bucket="not-listed")
    for role in ("train", "validation", "test"):
        own_engine.s3.put_object(Bucket="not-listed", Key=f"{role}.csv", Body=b"1,2\n")
    data = {f"{role}Uri": f"s3://not-listed/{role}.csv" for role in ("train", "validation", "test")}

    result = own_engine.run({"data": data}, name="not-listed")

    assert result.status == "FAILED"
    assert result.states_entered() == ["Generate Training Dataset", "Invalid Execution Input"]
    assert result.error == "OwnDataNotAllowed"
    assert "ExternalDataBuckets" in result.cause
    assert f"(now: {EXTERNAL}, second-team-data)" in result.cause
