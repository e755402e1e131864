"""Bad input, property-based: whatever JSON a handler gets, it succeeds or raises one of its named errors.

Each property runs the real ``lambda_handler`` (moto behind S3 and SageMaker) on mutations of the real
events in ``events/``, arbitrary JSON and deeply nested values. A failure must be an exception class the
handler module defines (Step Functions matches its name in Retry/Catch) with a message; a built-in
exception (KeyError, TypeError, ValueError, OverflowError, RecursionError...) or an SDK error escaping is
a bug. Each test also counts the outcomes, so a strategy that never reaches success (or never reaches a
given error) fails instead of passing vacuously. Runs are derandomized with no example database, so a
run of the whole suite sees the same examples every time. (Hypothesis also draws literals from the
project's modules loaded so far, so running a single test can see other examples: the outcome thresholds
leave room for that.)
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import dataset_writer
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import EVENTS_DIR, REGION, LambdaContext, create_best_training_job
from tests.hardening.strategies import (
    any_value,
    assert_json_output,
    events_from,
    focused,
    named_exceptions,
    outcome,
)

PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None)
# Rows written per split, whatever the (valid) input asks: enough for several parts, still fast.
MAX_ROWS = {"train_rows": 120, "validation_rows": 40, "test_rows": 40}
CONTEXT = LambdaContext()
OWN_DATA_BUCKET = "example-ml-datasets"  # the bucket events/execution_input_own_data.json names
# SageMaker's ModelName pattern (the CreateModel API reference); re.ASCII: \d and \w match ASCII only.
MODEL_NAME = re.compile(r"[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?", re.ASCII)
MODEL_ARN = re.compile(r"arn:aws[a-z-]*:sagemaker:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:model/.{1,63}", re.ASCII)


def all_keys(s3_client: Any, bucket: str) -> list[str]:
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def open_uploads(s3_client: Any, bucket: str) -> list[str]:
    return [u["Key"] for u in s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def half_and_half(first: st.SearchStrategy[Any], second: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Draws from each strategy half the time (st.one_of flattens nested one_of, diluting a branch)."""
    return st.sampled_from([first, second]).flatmap(lambda strategy: strategy)


def label(error: BaseException | None) -> str:
    return "success" if error is None else type(error).__name__


# --- Generate Training Dataset -----------------------------------------------------------------------------


@pytest.fixture
def generate_dataset(
    load_handler: Callable[[str], ModuleType],
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    small_parts: Callable[[ModuleType], int],
) -> ModuleType:
    """The handler uploading in small parts (so the writes go through multipart) with its rows capped
    (MAX_ROWS); validation and naming are untouched. The own data of events/execution_input_own_data.json
    exists, in a bucket ExternalDataBuckets lists, so its mutations reach the file checks and the split."""
    monkeypatch.setenv("EXTERNAL_DATA_BUCKETS", OWN_DATA_BUCKET)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=OWN_DATA_BUCKET)
    rows = "".join(f"{i % 7}.5,{i},{i * 3 % 11},{i % 5}\n" for i in range(300))
    for uri in json.loads((EVENTS_DIR / "execution_input_own_data.json").read_text())["data"].values():
        s3.put_object(Bucket=OWN_DATA_BUCKET, Key=uri.removeprefix(f"s3://{OWN_DATA_BUCKET}/"), Body=rows)
    app = load_handler("generate_dataset")
    generate = dataset_writer.generate

    def capped(client: Any, bucket: str, execution: Any, spec: Any, **options: Any) -> dict[str, Any]:
        smaller = {attr: min(getattr(spec, attr), cap) for attr, cap in MAX_ROWS.items()}
        return generate(client, bucket, execution, dataclasses.replace(spec, **smaller), **options)

    monkeypatch.setattr(app, "generate", capped)
    small_parts(app)
    return app


def generate_dataset_events(load_event: Callable[[str], Any]) -> list[Any]:
    """The events/ files of Generate Training Dataset, and the console inputs wrapped as the state
    machine wraps them."""
    base = [load_event("generate_dataset"), load_event("generate_dataset_overrides")]
    for name in ("execution_input_default", "execution_input_overrides", "execution_input_own_data"):
        base.append({**base[0], "input": load_event(name)})
    return base


# Valid execution inputs, bounds included (the run writes MAX_ROWS at most whatever they ask).
valid_inputs = st.fixed_dictionaries(
    {},
    optional={
        "trainRows": st.integers(100, 1_000_000),
        "validationRows": st.integers(20, 1_000_000),
        "testRows": st.integers(20, 1_000_000),
        "noise": st.one_of(st.floats(0.0, 100.0), st.integers(0, 100)),
        "seed": st.integers(0, 2**31 - 1),
        "maxTrainingJobsNotImproving": st.integers(3, 100),
        "strategy": st.sampled_from(["Bayesian", "Random", "Hyperband"]),
        "trainingInstanceCount": st.integers(1, 8),
        "spot": st.booleans(),
        "qualityGate": st.booleans(),
        "maxTestRmse": st.floats(0.001, 1e6),
    },
)


def assert_dataset_written(app: ModuleType, bucket: str, keys: list[str], result: Any, event: Any) -> None:
    """Exactly the four files the output names, under the run's prefix; the input echoed back. Own data:
    only the test features and labels are written (SageMaker reads the training files in place); a sharded
    plan: nothing yet."""
    assert_json_output(result)
    dataset = result["dataset"]
    if dataset["source"] == "s3":
        assert keys == sorted(
            [
                f"{dataset['prefix']}data/test/test.csv",
                dataset["testLabelsUri"].removeprefix(f"s3://{bucket}/") + "test.csv",
            ]
        )
        assert result["input"] == event["input"]
        return
    if "shards" in dataset:
        # Planned only (several training instances, or more rows than a shard): the Map writes the shards.
        assert keys == []
        assert len(dataset["shards"]) >= result["config"]["training"]["instanceCount"]
        return
    uris = [dataset[k] for k in ("trainUri", "validationUri", "testUri")]
    expected = [f"{uris[0]}train.csv", f"{uris[1]}validation.csv", f"{uris[2]}test.csv"]
    assert [f"s3://{bucket}/{key}" for key in keys] == sorted(
        [*expected, f"{dataset['testLabelsUri']}test.csv"]
    )
    assert all(key.startswith(f"runs/{dataset['runName']}/") for key in keys)
    # The returned input is the one the run used, and is itself a valid execution input.
    assert dataset_writer.parse_spec(result["input"]) == dataset_writer.parse_spec(event.get("input"))


def test_generate_dataset_any_event_writes_four_files_or_fails_by_name_leaving_nothing(
    generate_dataset: ModuleType, s3_client: Any, bucket: str, load_event: Callable[[str], Any]
) -> None:
    app = generate_dataset
    named = named_exceptions(app)
    assert {e.__name__ for e in named} >= {"InvalidExecutionInput", "DatasetWriteError", "ConfigurationError"}
    base = generate_dataset_events(load_event)
    execution = st.sampled_from([e["execution"] for e in base])
    # The execution input is what a person types into the console: mutate it on its own too.
    extras = [
        *(focused(event, "input") for event in base),
        *(focused(event, "execution") for event in base),
        # The template's defaults, as the state machine sends them: broken ones are a ConfigurationError.
        focused(base[0], "defaults"),
    ]
    # Half the examples are valid events, so success (and the files it writes) is checked often; some name
    # own data: files that exist, are missing, or are where the stack may not read.
    own = load_event("execution_input_own_data")["data"]

    def own_uris(role: str) -> st.SearchStrategy[str]:
        return st.sampled_from(
            [own[role]] * 8
            + [
                f"s3://{OWN_DATA_BUCKET}/missing/{role}.csv",
                "s3://not-listed-bucket/train.csv",
                f"s3://{bucket}/datasets/{role}.csv",
                f"s3://{bucket}/runs/{role}.csv",
            ]
        )

    own_data_inputs = st.fixed_dictionaries({"data": st.fixed_dictionaries({r: own_uris(r) for r in own})})
    valid_events = st.builds(
        lambda value, ex: {**base[0], "input": value, "execution": ex},
        half_and_half(valid_inputs, own_data_inputs),
        execution,
    )
    seen: Counter[str] = Counter()

    @PROPERTY
    @given(event=half_and_half(events_from(base, *extras), valid_events))
    def check(event: Any) -> None:
        try:
            result, error = outcome(lambda: app.lambda_handler(event, CONTEXT), named)
            keys, uploads = all_keys(s3_client, bucket), open_uploads(s3_client, bucket)
        finally:
            for key in all_keys(s3_client, bucket):
                s3_client.delete_object(Bucket=bucket, Key=key)
        seen[label(error)] += 1
        if error is None and result["dataset"]["source"] == "s3":
            seen["success with own data"] += 1
        assert uploads == [], f"multipart uploads left open: {uploads}"
        if error is not None:
            assert keys == [], f"{label(error)} left objects behind: {keys}"
            return
        assert_dataset_written(app, bucket, keys, result, event)

    check()

    assert seen["success"] >= 30 and seen["InvalidExecutionInput"] >= 30, seen
    assert seen["success with own data"] >= 2, seen
    assert seen["OwnDataNotFound"] + seen["OwnDataNotAllowed"] >= 4, seen


def test_generate_dataset_without_bucket_name_fails_by_name_for_any_event(
    load_handler: Callable[[str], ModuleType], s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BUCKET_NAME", raising=False)
    app = load_handler("generate_dataset")

    @PROPERTY
    @given(event=st.one_of(any_value, st.just({})))
    def check(event: Any) -> None:
        _, error = outcome(lambda: app.lambda_handler(event, CONTEXT), named_exceptions(app))
        assert label(error) == "ConfigurationError"

    check()


# --- Extract Model Path ------------------------------------------------------------------------------------


@pytest.fixture
def extract_model_path(
    load_handler: Callable[[str], ModuleType],
    sagemaker_client: Any,
    load_event: Callable[[str], Any],
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> ModuleType:
    """The handler, with the events' best training job created in moto (so valid events succeed); the
    tuning job has no training job to list (moto cannot list them)."""
    create_best_training_job(sagemaker_client, load_event("extract_model_path")["tuning"])
    app = load_handler("extract_model_path")
    monkeypatch.setattr(app, "training_jobs", lambda client, tuning_job: [])
    return app


def test_extract_model_path_any_event_returns_the_summary_or_fails_by_name(
    extract_model_path: ModuleType, load_event: Callable[[str], Any]
) -> None:
    app = extract_model_path
    base = [
        load_event("extract_model_path")["tuning"],
        load_event("extract_model_path_no_best_job")["tuning"],
    ]
    run_prefix = load_event("extract_model_path")["runPrefix"]
    seen: Counter[str] = Counter()

    # The part the handler reads, mutated on its own.
    extras = [
        focused(base[0], "BestTrainingJob"),
        focused(base[0], "BestTrainingJob"),
        focused(base[1], "TrainingJobStatusCounters"),
        # Any other best training job name: one this account does not have.
        st.text(min_size=1, max_size=80).map(
            lambda name: {
                **base[0],
                "BestTrainingJob": {**base[0]["BestTrainingJob"], "TrainingJobName": name},
            }
        ),
    ]

    @PROPERTY
    @given(event=events_from(base, *extras))
    def check(event: Any) -> None:
        result, error = outcome(
            lambda: app.lambda_handler({"tuning": event, "runPrefix": run_prefix}, CONTEXT),
            named_exceptions(app),
        )
        seen[label(error)] += 1
        if error is not None:
            return
        assert_json_output(result)
        assert result["bestTrainingJobName"] == event["BestTrainingJob"]["TrainingJobName"]
        assert result["modelDataUrl"].startswith("s3://")
        assert all(isinstance(v, str) for v in result["hyperparameters"].values())

    check()

    for outcome_name in (
        "success",
        "InvalidTuningJobDescription",
        "NoBestTrainingJob",
        "TrainingJobLookupFailed",
    ):
        assert seen[outcome_name] >= 5, seen


# --- Extract Model Name ------------------------------------------------------------------------------------


def test_extract_model_name_any_event_returns_a_valid_model_name_or_fails_by_name(
    load_handler: Callable[[str], ModuleType], load_event: Callable[[str], Any]
) -> None:
    app = load_handler("extract_model_name")
    seen: Counter[str] = Counter()

    # ARNs of the right shape: \\d in a str pattern also draws non-ASCII digits, which SageMaker never sends.
    arns_pattern = (
        r"arn:aws(-cn|-us-gov)?:sagemaker:[a-z]{2}-[a-z]+-\d:\d{12}:model/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,70}"
    )
    arns = st.from_regex(arns_pattern, fullmatch=True)
    ascii_arns = st.from_regex(arns_pattern, fullmatch=True, alphabet=st.characters(codec="ascii"))
    base = load_event("extract_model_name")
    extras = [
        arns.map(lambda arn: {"ModelArn": arn}),
        ascii_arns.map(lambda arn: {"ModelArn": arn}),
        ascii_arns.map(lambda arn: {"ModelArn": arn}),
        focused(base, "ModelArn"),
    ]

    @PROPERTY
    @given(event=events_from([base], *extras))
    def check(event: Any) -> None:
        result, error = outcome(lambda: app.lambda_handler(event, CONTEXT), named_exceptions(app))
        seen[label(error)] += 1
        if error is not None:
            return
        assert_json_output(result)
        # A name CreateTransformJob accepts as ModelName, from an ARN SageMaker could have returned.
        assert MODEL_NAME.fullmatch(result["modelName"]), result["modelName"]
        assert len(result["modelName"]) <= 63
        assert result["modelArn"] == event["ModelArn"]
        assert MODEL_ARN.fullmatch(result["modelArn"]), result["modelArn"]
        assert result["modelArn"].endswith(f":model/{result['modelName']}")

    check()

    assert seen["success"] >= 30 and seen["InvalidModelArn"] >= 30, seen


# --- Evaluate Predictions ----------------------------------------------------------------------------------

RUN = "runs/run-0123456789ab"
OBJECTS: dict[str, bytes] = {
    f"{RUN}/predictions/test.csv.out": b"1.5\n2.5\n3.5\n",
    f"{RUN}/data/test-labels/test.csv": b"1.0\n2.0\n4.0\n",
    # Objects a mutated URI may land on: binary, empty, a number too long for a float (named to pair with
    # the labels test.csv, or the predictions test.csv.out, so their content is read).
    f"{RUN}/predictions-binary/test.csv.out": b"\x1f\x8b\x08\x00\xff\xfe\x80",
    f"{RUN}/predictions-empty/test.csv.out": b"",
    f"{RUN}/data/huge/test.csv": b"1" * 5000 + b"\n",
}


def restore_objects(s3_client: Any, bucket: str) -> None:
    for key in set(all_keys(s3_client, bucket)) - set(OBJECTS):
        s3_client.delete_object(Bucket=bucket, Key=key)
    for key, body in OBJECTS.items():
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)


def test_evaluate_model_any_event_returns_metrics_or_fails_by_name_writing_nothing(
    load_handler: Callable[[str], ModuleType], s3_client: Any, bucket: str
) -> None:
    app = load_handler("evaluate_model")
    restore_objects(s3_client, bucket)
    uris = [f"s3://{bucket}/{key}" for key in OBJECTS] + [
        f"s3://{bucket}/{RUN}/predictions/",
        f"s3://{bucket}/{RUN}/predictions-binary/",
        f"s3://{bucket}/{RUN}/predictions-empty/",
        f"s3://no-such-bucket-{REGION}/{RUN}/predictions/",
        f"s3://{bucket}/{RUN}/{'k' * 1100}/metrics.json",  # longer than S3's 1,024-byte key limit
    ]
    valid = {
        "predictionsUri": f"s3://{bucket}/{RUN}/predictions/",
        "labelsUri": f"s3://{bucket}/{RUN}/data/test-labels/",
        "metricsUri": f"s3://{bucket}/{RUN}/evaluation/metrics.json",
    }
    # A mutation the generic ones rarely make: one URI swapped for another existing (or missing) place.
    swapped = st.builds(
        lambda key, uri: {**valid, key: uri}, st.sampled_from(sorted(valid)), st.sampled_from(uris)
    )
    seen: Counter[str] = Counter()

    @PROPERTY
    @given(event=half_and_half(events_from([valid], st.just(valid)), swapped))
    def check(event: Any) -> None:
        before = all_keys(s3_client, bucket)
        try:
            result, error = outcome(lambda: app.lambda_handler(event, CONTEXT), named_exceptions(app))
            after = all_keys(s3_client, bucket)
            if error is None:
                metrics_key = result["metricsUri"].removeprefix(f"s3://{bucket}/")
                stored = json.loads(s3_client.get_object(Bucket=bucket, Key=metrics_key)["Body"].read())
        finally:
            # A metricsUri may point at one of the fixture's objects: put them all back.
            restore_objects(s3_client, bucket)
        seen[label(error)] += 1
        if error is not None:
            assert after == before, f"{label(error)} wrote {sorted(set(after) - set(before))}"
            return
        assert_json_output(result)
        assert result["rows"] >= 1
        assert result["metricsUri"] == event["metricsUri"]
        assert stored == result
        assert set(after) - set(before) <= {metrics_key}

    check()

    assert seen["success"] >= 5 and seen["InvalidEvaluationRequest"] >= 30, seen
    assert seen["InvalidPredictionData"] >= 2 and seen["EvaluationDataNotFound"] >= 3, seen
