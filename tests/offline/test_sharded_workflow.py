"""A sharded data set through the real definition: plan, Map of shards, tuning on every part, evaluation.

DatasetShardRows is a template parameter (the engine takes parameter overrides), set small so a few
hundred rows make five shards.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import dataset_writer
import evaluation
import pytest

from functions import loader
from offline.engine import Engine, OfflineRunError
from tests.offline.conftest import FEW_JOBS, SMALL_INPUT
from tests.offline.workflow_support import HAPPY_PATH

SHARDED = {**FEW_JOBS, "DatasetShardRows": 100}  # SMALL_INPUT: 300 + 100 + 100 rows -> 5 shards
SHARDS = 5
SHARD_STATE = "Generate Dataset Shard"


@pytest.fixture
def evaluate_app() -> Iterator[ModuleType]:
    """The Evaluate Model handler's module (its functions are called on the engine's S3)."""
    module = loader.load_handler("evaluate_model")
    yield module
    loader.unload(module)


def keys_under(engine: Engine, uri: str) -> list[str]:
    return sorted(key.removeprefix(uri) for key in engine.list_s3(uri))


def test_a_sharded_data_set_is_written_by_the_map_tuned_on_and_evaluated_with_the_pooled_noise_floor(
    make_engine: Callable[..., Engine], evaluate_app: ModuleType
) -> None:
    engine = make_engine(parameters=SHARDED)

    result = engine.run(SMALL_INPUT)

    assert result.status == "SUCCEEDED", result.cause
    entered = result.states_entered()
    assert entered[:3] == ["Generate Training Dataset", "Dataset Sharded?", "Generate Dataset Shards"]
    assert entered.count(SHARD_STATE) == SHARDS
    after_data = HAPPY_PATH[HAPPY_PATH.index("HyperparameterTuning (XGBoost)") :]
    assert entered[-len(after_data) :] == after_data
    assert len(result.events("MapIterationSucceeded")) == SHARDS
    dataset = result.output["dataset"]
    assert [shard["index"] for shard in dataset["shards"]] == list(range(SHARDS))
    results = dataset["shardResults"]
    assert [r["index"] for r in results] == list(range(SHARDS))
    for split, total in (("train", 300), ("validation", 100), ("test", 100)):
        assert sum(r["rows"][split] for r in results) == total == dataset["rows"][split]
    parts = [f"part-{i:05d}.csv" for i in range(SHARDS)]
    base = f"s3://{engine.bucket}/{dataset['prefix']}data/"
    for split in ("train", "validation", "test", "test-labels"):
        assert keys_under(engine, f"{base}{split}/") == parts, split
    # The tuning job read the whole train prefix (every part); the transform predicted every test part.
    tuning = next(r for r in engine.sagemaker_requests if r.operation == "CreateHyperParameterTuningJob")
    channels = tuning.parameters["TrainingJobDefinition"]["InputDataConfig"]
    assert {c["DataSource"]["S3DataSource"]["S3Uri"] for c in channels} == {
        dataset["trainUri"],
        dataset["validationUri"],
    }
    assert keys_under(engine, result.output["transform"]["outputUri"]) == [f"{p}.out" for p in parts]

    # Evaluate Model pairs every part's predictions with its labels and pools the shards' noise floor.
    metrics = evaluation.evaluate(
        engine.s3, result.output["transform"]["outputUri"], dataset["testLabelsUri"]
    )
    floor = evaluation.noise_floor_rmse(dataset)
    assert metrics.rows == 100
    pooled = math.sqrt(sum(r["testNoiseSumOfSquares"] for r in results) / 100)
    assert floor == pytest.approx(pooled, abs=1e-6)
    assert 0.5 < floor < 1.5  # noise 1.0
    assert result.output["evaluation"]["qualityGate"]["noiseFloorRmse"] == floor
    assert result.output["evaluation"]["rows"] == 100
    assert metrics.rmse < 4 * floor  # 3 trials on 300 rows: a model, not the mean (label sd ~ 5)


def test_a_failing_shard_fails_the_run_in_dataset_generation_failed_and_leaves_no_shard_files(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(parameters=SHARDED)
    real_write_split = dataset_writer.write_split

    def failing_write_split(client: Any, bucket: str, key: str, *args: Any, **kwargs: Any) -> int:
        if "/test/part-00002.csv" in key:
            raise dataset_writer.DatasetWriteError(f"writing s3://{bucket}/{key} failed: injected")
        return real_write_split(client, bucket, key, *args, **kwargs)

    monkeypatch.setattr(dataset_writer, "write_split", failing_write_split)

    result = engine.run(SMALL_INPUT)

    assert result.status == "FAILED"
    assert result.states_entered()[-2:] == ["Check Dataset Shards", "Dataset Generation Failed"]
    # Every shard ran to its end before the check: the four others wrote theirs, then the check removed them.
    assert result.states_entered().count(SHARD_STATE) == SHARDS
    assert result.error == "DatasetShardFailed"
    cause = result.cause or ""
    assert "1 of 5 data set shards failed (shard 2: DatasetWriteError" in cause
    assert "part-00002.csv" in cause and "no partial data set is left" in cause
    assert engine.list_s3(f"s3://{engine.bucket}/runs/") == []  # no shard's files are left
    assert engine.sagemaker_requests == []  # no tuning job on an incomplete data set


def test_shards_still_writing_when_the_map_fails_finish_before_the_run_returns_or_the_engine_closes(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard fails while others are still writing: the Map waits for every iteration (the failure is caught
    inside it), so Check Dataset Shards removes their files only once they are written, and the engine's
    handlers have all ended when the result is read (none of their S3 calls can outlive the fake AWS)."""
    engine = make_engine(parameters=SHARDED)
    function = engine.lambdas.function("GenerateDatasetFunction")
    real_write_split = dataset_writer.write_split
    finished: list[str] = []
    failed = threading.Event()

    def write_split(client: Any, bucket: str, key: str, *args: Any, **kwargs: Any) -> float:
        if "/test/" in key and not failed.is_set():
            # The first shard to reach its test file fails, once another shard's invocation is in flight
            # (handlers take turns: they share the process's environment), so that one runs after the
            # execution has failed. (The Map starts all five at once, in no fixed order.)
            deadline = time.monotonic() + 10
            while engine.lambdas.handlers_running < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert engine.lambdas.handlers_running >= 2
            failed.set()
            raise dataset_writer.DatasetWriteError(f"writing s3://{bucket}/{key} failed: injected")
        if failed.is_set() and "/train/" in key:
            time.sleep(0.3)  # a shard still writing well after the execution failed
        written = real_write_split(client, bucket, key, *args, **kwargs)
        if "/test/" in key:
            finished.append(key.rpartition("/")[2])
        return written

    monkeypatch.setattr(dataset_writer, "write_split", write_split)

    result = engine.run(SMALL_INPUT)

    assert result.status == "FAILED" and result.error == "DatasetShardFailed"
    assert engine.lambdas.handlers_running == 0
    shard_invocations = function.invocations - 2  # the first is the plan, the last the check
    assert shard_invocations == SHARDS
    assert len(finished) == shard_invocations - 1  # every shard invoked but the failing one ran to its end
    # The Map let every shard end before the check removed their files: none is left behind.
    assert engine.list_s3(f"s3://{engine.bucket}/runs/") == []


def test_no_handler_starts_once_the_engine_is_closing(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    function = engine.lambdas.function("ExtractModelNameFunction")
    with engine.lambdas.handlers_idle:
        engine.lambdas.closing = True
    try:
        response, errored = engine.lambdas.invoke_handler(function, b"{}")
    finally:
        with engine.lambdas.handlers_idle:
            engine.lambdas.closing = False

    assert errored
    assert json.loads(response)["errorType"] == "Offline.EngineClosed"
    assert function.module is not None


def test_an_engine_whose_handler_outlives_the_drain_keeps_its_fake_aws_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The engine never leaves the fake AWS environment while a handler still runs: it refuses to close,
    the next engine names the reason, and closing works once the handler has ended."""
    engine = Engine(parameters=FEW_JOBS)
    engine.__enter__()
    function = engine.lambdas.function("ExtractModelNameFunction")
    release = threading.Event()

    def stuck(event: Any, context: Any) -> dict[str, Any]:
        release.wait(30)
        return {}

    monkeypatch.setattr(function.module, "lambda_handler", stuck)
    monkeypatch.setattr(engine, "_handler_drain_seconds", lambda: 0.3)
    caller = threading.Thread(target=engine.lambdas.invoke_handler, args=(function, b"{}"))
    caller.start()
    try:
        deadline = time.monotonic() + 10
        while engine.lambdas.handlers_running == 0 and time.monotonic() < deadline:
            time.sleep(0.01)

        with pytest.raises(OfflineRunError, match=r"1 Lambda handler\(s\) .* still running"):
            engine.__exit__(None, None, None)
        assert os.environ["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull  # the fake environment is still there
        with pytest.raises(OfflineRunError, match="an earlier offline engine could not close"):
            Engine(parameters=FEW_JOBS).__enter__()
    finally:
        release.set()
        caller.join(10)
    assert not caller.is_alive()

    engine.__exit__(None, None, None)  # drained now: closes and releases the lock

    with Engine(parameters=FEW_JOBS) as again:
        assert again.lambdas.handlers_running == 0
