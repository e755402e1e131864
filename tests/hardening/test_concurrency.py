"""Concurrency: 20 executions started at once on one offline engine all succeed and never share a name or key.

The executions run side by side in the engine's threads (moto runs each execution in its own thread; the
engine serves them all). Every object S3 stores is recorded as it is written (moto's ``put_object``, which
PutObject and CompleteMultipartUpload both end in). The checks: each key is written once; each lies under
the prefix of exactly one run, ``runs/<run name>/``; each run's keys are exactly the ones its own output and
its own training jobs name; every tuning, training, model and transform job name is distinct.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto.s3.models import S3Backend

from offline.engine import Engine

EXECUTIONS = 20
TINY_INPUT = {"trainRows": 100, "validationRows": 30, "testRows": 30}
# MaxTestRmse: small data cannot pass the default quality gate (1.25x the noise floor).
TWO_JOBS = {"MaxTrainingJobs": 2, "MaxParallelTrainingJobs": 1, "MaxTestRmse": "5"}
TIMEOUT_SECONDS = 120


@pytest.fixture
def s3_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """(bucket, key) of every object stored, in order, whichever client or thread wrote it."""
    writes: list[tuple[str, str]] = []
    lock = threading.Lock()
    put_object = S3Backend.put_object

    def recording(backend: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        with lock:
            writes.append((bucket_name, key_name))
        return put_object(backend, bucket_name, key_name, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "put_object", recording)
    yield writes


def run_all_at_once(engine: Engine, names: list[str], execution_input: Any) -> list[dict[str, Any]]:
    """Starts every execution before waiting for any; returns their final descriptions."""
    arns = [
        engine.sfn.start_execution(
            stateMachineArn=engine.state_machine_arn, name=name, input=json.dumps(execution_input)
        )["executionArn"]
        for name in names
    ]
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        descriptions = [engine.sfn.describe_execution(executionArn=arn) for arn in arns]
        if all(d["status"] != "RUNNING" for d in descriptions):
            return descriptions
        assert time.monotonic() < deadline, "the executions did not finish in time"
        time.sleep(0.1)


def test_twenty_simultaneous_executions_succeed_with_distinct_job_names_and_disjoint_keys(
    make_engine: Callable[..., Engine],
    sagemaker_events: list[tuple[str, dict[str, Any]]],
    s3_writes: list[tuple[str, str]],
) -> None:
    engine = make_engine(parameters=TWO_JOBS)
    # Console-style UUID names that share their first 19 characters: the run names may differ only by
    # the hash of the execution the handler appends.
    names = [str(uuid.UUID(int=i)) for i in range(EXECUTIONS)]

    descriptions = run_all_at_once(engine, names, TINY_INPUT)

    assert [d["status"] for d in descriptions] == ["SUCCEEDED"] * EXECUTIONS, [
        (d["name"], d.get("error"), (d.get("cause") or "")[:300])
        for d in descriptions
        if d["status"] != "SUCCEEDED"
    ]
    # They did run side by side: every one started before the first one ended.
    first_end = min(d["stopDate"] for d in descriptions)
    assert all(d["startDate"] < first_end for d in descriptions)

    outputs = {d["executionArn"]: json.loads(d["output"]) for d in descriptions}
    runs = {arn: output["dataset"]["runName"] for arn, output in outputs.items()}
    assert len(set(runs.values())) == EXECUTIONS
    packages = {output["registry"]["modelPackageArn"] for output in outputs.values()}
    assert len(packages) == EXECUTIONS  # one registry version per execution

    # Job names: each distinct across the executions, each derived from its own execution's run.
    requests: dict[str, dict[str, list[str]]] = {arn: {} for arn in outputs}
    for request in engine.sagemaker_requests:
        if request.operation == "CreateModelPackage":  # versions of one group: checked below
            continue
        key = {
            "CreateHyperParameterTuningJob": "HyperParameterTuningJobName",
            "CreateModel": "ModelName",
            "CreateTransformJob": "TransformJobName",
        }[request.operation]
        requests[request.execution_arn].setdefault(request.operation, []).append(request.parameters[key])
    training_jobs: dict[str, list[str]] = {}
    for event, data in sagemaker_events:
        if event == "training_job_started":
            training_jobs.setdefault(data["tuningJob"], []).append(data["name"])
    for arn, output in outputs.items():
        run = runs[arn]
        assert requests[arn]["CreateHyperParameterTuningJob"] == [run] == [output["tuning"]["tuningJobName"]]
        assert requests[arn]["CreateTransformJob"] == [run] == [output["transform"]["transformJobName"]]
        assert requests[arn]["CreateModel"] == [output["model"]["modelName"]]
        assert len(training_jobs[run]) == TWO_JOBS["MaxTrainingJobs"]
        assert all(name.startswith(f"{run}-") for name in training_jobs[run])
        assert output["tuning"]["bestTrainingJobName"] in training_jobs[run]
    # SageMaker names are unique per resource type in an account and region: no type may repeat one.
    by_type = {
        operation: [name for jobs in requests.values() for name in jobs[operation]]
        for operation in ("CreateHyperParameterTuningJob", "CreateModel", "CreateTransformJob")
    }
    by_type["training jobs"] = [name for names in training_jobs.values() for name in names]
    assert len(by_type["training jobs"]) == EXECUTIONS * TWO_JOBS["MaxTrainingJobs"]
    for kind, names_of_kind in by_type.items():
        assert len(names_of_kind) == len(set(names_of_kind)), kind
        # Names are compared in lower case by SageMaker (ARNs carry them so).
        assert len({name.lower() for name in names_of_kind}) == len(names_of_kind), kind

    # S3: every key written once, inside exactly one run's prefix, and each run wrote what it names.
    counts = Counter(s3_writes)
    assert [key for key, count in counts.items() if count > 1] == []
    keys = {key for bucket, key in counts if bucket == engine.bucket}
    assert {bucket for bucket, _ in counts} == {engine.bucket}
    for arn, output in outputs.items():
        prefix = f"runs/{runs[arn]}/"
        mine = {key for key in keys if key.startswith(prefix)}
        dataset = output["dataset"]
        expected = {
            f"{prefix}data/train/train.csv",
            f"{prefix}data/validation/validation.csv",
            f"{prefix}data/test/test.csv",
            f"{dataset['testLabelsUri']}test.csv".removeprefix(f"s3://{engine.bucket}/"),
            *(f"{prefix}models/{job}/output/model.tar.gz" for job in training_jobs[runs[arn]]),
            f"{output['transform']['outputUri']}test.csv.out".removeprefix(f"s3://{engine.bucket}/"),
            f"{prefix}tuning/training-jobs.json",
            output["evaluation"]["metricsUri"].removeprefix(f"s3://{engine.bucket}/"),
        }
        assert mine == expected, arn
        keys -= mine
    assert keys == set(), "objects outside every run's prefix"
