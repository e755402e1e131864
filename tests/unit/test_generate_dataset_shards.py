"""Generate Training Dataset, sharded: the plan, the shards' files, determinism, failures, bad events."""

from __future__ import annotations

import hashlib
import math
from types import ModuleType
from typing import Any

import dataset_writer
import naming
import pytest
import s3_stream

from tests.unit import dataset_support as support

# 440 rows in all; 100-row shards -> 5 shards.
SHARDED_INPUT = {"trainRows": 300, "validationRows": 60, "testRows": 80, "noise": 1.0, "seed": 3}
SHARD_ROWS = 100


@pytest.fixture
def small_shards(monkeypatch: pytest.MonkeyPatch) -> int:
    """DATASET_SHARD_ROWS as the template sets it from DatasetShardRows, here at its minimum."""
    monkeypatch.setenv("DATASET_SHARD_ROWS", str(SHARD_ROWS))
    return SHARD_ROWS


def planned(dataset_app: ModuleType, bucket: str) -> dict[str, Any]:
    dataset = dataset_app.lambda_handler(support.event_for(SHARDED_INPUT), None)["dataset"]
    assert "shards" in dataset
    return dataset


def run_all_shards(dataset_app: ModuleType, dataset: dict[str, Any]) -> list[dict[str, Any]]:
    """What the Map does: one invocation per planned shard, with the Map's Parameters."""
    return [
        dataset_app.lambda_handler({"shard": shard, "dataset": dataset}, None) for shard in dataset["shards"]
    ]


# --- the plan ---------------------------------------------------------------------------------------------


def test_default_input_is_not_sharded_and_its_files_are_byte_identical_to_the_recorded_ones(
    dataset_app: ModuleType, bucket: str, s3_client: Any
) -> None:
    """The default DatasetShardRows keeps {} on one invocation, and {} writes the bytes recorded here (sha256
    of each file): a change of the generator's output is deliberate or a bug. Recorded when the features
    moved to a grid of millionths drawn in batches (bench: datagen); before, with ``random.gauss`` and
    "%.6f" of unrounded features, the digests were e9f710897cef, 6eb7bb7ae1a2, 3cdc7109cfb1, db7c9c4ee493
    and the noise floor 1.002002."""
    dataset = dataset_app.lambda_handler(support.event_for({}), None)["dataset"]

    assert "shards" not in dataset
    digests = {
        key.removeprefix(dataset["prefix"]): hashlib.sha256(
            support.read_object(s3_client, bucket, key)
        ).hexdigest()[:12]
        for key in support.all_keys(s3_client, bucket)
    }
    assert digests == {
        "data/train/train.csv": "2474646e1af9",
        "data/validation/validation.csv": "f913fb7da291",
        "data/test/test.csv": "d2b51be294ea",
        "data/test-labels/test.csv": "66cbbfb7460c",
    }
    assert dataset["noiseFloorRmse"] == 1.016249


@pytest.mark.parametrize(("shard_rows", "count"), [(440, 0), (439, 2), (100, 5), (88, 5), (87, 6)])
def test_plan_has_ceil_of_rows_over_shard_rows_shards_and_none_when_one_invocation_writes_it(
    dataset_app: ModuleType, shard_rows: int, count: int
) -> None:
    spec = dataset_writer.DatasetSpec(train_rows=300, validation_rows=60, test_rows=80, seed=3)

    shards = dataset_writer.plan_shards(spec, shard_rows)

    assert len(shards) == count
    if shards:
        assert [s["index"] for s in shards] == list(range(count))
        for split, total in (("trainRows", 300), ("validationRows", 60), ("testRows", 80)):
            assert sum(s[split] for s in shards) == total
            assert max(s[split] for s in shards) - min(s[split] for s in shards) <= 1
        assert all(s["trainRows"] + s["validationRows"] + s["testRows"] <= shard_rows + 3 for s in shards)


def test_shard_seeds_are_derived_from_the_run_seed_distinct_and_reproducible(dataset_app: ModuleType) -> None:
    spec = dataset_writer.DatasetSpec(train_rows=300, validation_rows=60, test_rows=80, seed=3)
    seeds = [s["seed"] for s in dataset_writer.plan_shards(spec, SHARD_ROWS)]

    assert len(set(seeds)) == len(seeds)
    assert all(0 <= seed < 2**31 for seed in seeds)
    assert seeds == [s["seed"] for s in dataset_writer.plan_shards(spec, SHARD_ROWS)]
    other = dataset_writer.DatasetSpec(train_rows=300, validation_rows=60, test_rows=80, seed=4)
    assert set(seeds).isdisjoint(s["seed"] for s in dataset_writer.plan_shards(other, SHARD_ROWS))


def test_sharded_first_call_writes_nothing_and_returns_the_plan_and_the_same_locations(
    dataset_app: ModuleType, bucket: str, s3_client: Any, small_shards: int
) -> None:
    result = dataset_app.lambda_handler(support.event_for(SHARDED_INPUT), None)

    dataset = result["dataset"]
    assert support.all_keys(s3_client, bucket) == set()
    assert len(dataset["shards"]) == 5
    assert dataset["rows"] == {"train": 300, "validation": 60, "test": 80}
    assert dataset["noiseFloorRmse"] is None  # known once the shards are written: Evaluate Model pools it
    base = f"s3://{bucket}/{dataset['prefix']}"
    assert dataset["trainUri"] == f"{base}data/train/"
    assert dataset["testUri"] == f"{base}data/test/"
    assert dataset["testLabelsUri"] == f"{base}data/test-labels/"
    assert result["input"]["trainRows"] == 300


def test_too_many_shards_is_an_invalid_execution_input_naming_the_parameter(
    dataset_app: ModuleType, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dataset_writer, "MAX_SHARDS", 4)
    monkeypatch.setenv("DATASET_SHARD_ROWS", str(SHARD_ROWS))

    with pytest.raises(
        dataset_app.InvalidExecutionInput, match=r"440 would need 5 shards .*DatasetShardRows"
    ):
        dataset_app.lambda_handler(support.event_for(SHARDED_INPUT), None)


@pytest.mark.parametrize("value", ["0", "-5", "ten", "1.5"])
def test_a_bad_dataset_shard_rows_setting_is_a_configuration_error(
    dataset_app: ModuleType, bucket: str, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("DATASET_SHARD_ROWS", value)

    with pytest.raises(dataset_app.ConfigurationError, match="DATASET_SHARD_ROWS"):
        dataset_app.lambda_handler(support.event_for({}), None)


# --- the shards -------------------------------------------------------------------------------------------


def test_each_shard_writes_part_files_whose_union_is_the_data_set(
    dataset_app: ModuleType, bucket: str, s3_client: Any, small_shards: int
) -> None:
    dataset = planned(dataset_app, bucket)

    results = run_all_shards(dataset_app, dataset)

    prefix = dataset["prefix"]
    parts = [f"part-{i:05d}.csv" for i in range(5)]
    assert support.all_keys(s3_client, bucket) == {
        f"{prefix}data/{split}/{part}"
        for split in ("train", "validation", "test", "test-labels")
        for part in parts
    }
    totals = {"train": 0, "validation": 0, "test": 0}
    for shard, result, part in zip(dataset["shards"], results, parts, strict=True):
        train = support.read_rows(s3_client, bucket, f"{prefix}data/train/{part}")
        validation = support.read_rows(s3_client, bucket, f"{prefix}data/validation/{part}")
        test = support.read_rows(s3_client, bucket, f"{prefix}data/test/{part}")
        labels = support.read_rows(s3_client, bucket, f"{prefix}data/test-labels/{part}")
        assert {len(r) for r in train + validation} == {11}  # label first, ten features
        assert {len(r) for r in test} == {10} and {len(r) for r in labels} == {1}
        assert (len(train), len(validation), len(test), len(labels)) == (
            shard["trainRows"],
            shard["validationRows"],
            shard["testRows"],
            shard["testRows"],
        )
        assert result["index"] == shard["index"]
        assert result["rows"] == {"train": len(train), "validation": len(validation), "test": len(test)}
        # The noise statistics are those of the written files (six decimals).
        recomputed = sum((y[0] - support.friedman1(x)) ** 2 for y, x in zip(labels, test, strict=True))
        assert result["testNoiseSumOfSquares"] == pytest.approx(recomputed, abs=1e-3)
        assert result["noiseFloorRmse"] == pytest.approx(math.sqrt(recomputed / len(test)), abs=1e-4)
        for split in totals:
            totals[split] += result["rows"][split]
    assert totals == dataset["rows"]


def test_a_shard_writes_the_same_bytes_every_time_and_other_shards_differ(
    dataset_app: ModuleType, bucket: str, s3_client: Any, small_shards: int
) -> None:
    """A retried shard overwrites its files with equal content; shards do not repeat each other's rows."""
    dataset = planned(dataset_app, bucket)
    key = f"{dataset['prefix']}data/train/part-00001.csv"

    dataset_app.lambda_handler({"shard": dataset["shards"][1], "dataset": dataset}, None)
    first = support.read_object(s3_client, bucket, key)
    dataset_app.lambda_handler({"shard": dataset["shards"][1], "dataset": dataset}, None)
    dataset_app.lambda_handler({"shard": dataset["shards"][2], "dataset": dataset}, None)

    assert support.read_object(s3_client, bucket, key) == first
    other = support.read_object(s3_client, bucket, f"{dataset['prefix']}data/train/part-00002.csv")
    assert set(first.splitlines()).isdisjoint(other.splitlines())


def test_a_split_with_no_rows_in_a_shard_writes_no_file(
    dataset_app: ModuleType, bucket: str, s3_client: Any
) -> None:
    dataset = dataset_writer.generate(
        dataset_app._s3_client(),
        bucket,
        naming.parse_execution(support.event_for()["execution"]),
        dataset_writer.DatasetSpec(train_rows=300, validation_rows=20, test_rows=20, seed=1),
        shard_rows=10,
    )
    last = dataset["shards"][-1]
    assert last["validationRows"] == last["testRows"] == 0

    result = dataset_app.lambda_handler({"shard": last, "dataset": dataset}, None)

    assert result["rows"] == {"train": last["trainRows"], "validation": 0, "test": 0}
    assert result["noiseFloorRmse"] is None and result["testNoiseSumOfSquares"] == 0
    assert {key.rsplit("/", 2)[1] for key in support.all_keys(s3_client, bucket)} == {"train"}


@pytest.mark.parametrize(
    ("operation", "key_part", "nth"),
    [
        pytest.param("upload_part", "/validation/", 2, id="validation-second-part"),
        pytest.param("complete_multipart_upload", "/test/", 1, id="test-complete"),
        pytest.param("put_object", "/test-labels/", 1, id="labels-after-features-complete"),
    ],
)
def test_a_failing_shard_leaves_none_of_its_files_and_no_open_upload(
    dataset_app: ModuleType,
    bucket: str,
    s3_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    key_part: str,
    nth: int,
) -> None:
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1)
    monkeypatch.setattr(s3_stream, "PART_SIZE", 4 * 1024)  # a shard's validation and test go up in parts
    monkeypatch.setenv("DATASET_SHARD_ROWS", "1000")
    dataset = dataset_app.lambda_handler(
        support.event_for({**support.MULTIPART_INPUT, "trainRows": 2_000}), None
    )["dataset"]
    assert len(dataset["shards"]) == 3
    client = support.RecordingClient(dataset_app._s3_client(), fail=operation, key_part=key_part, nth=nth)
    monkeypatch.setattr(dataset_app, "_s3_client", lambda: client)

    with pytest.raises(dataset_writer.DatasetWriteError, match="internal error"):
        dataset_app.lambda_handler({"shard": dataset["shards"][0], "dataset": dataset}, None)

    assert client.failed
    assert support.all_keys(s3_client, bucket) == set()
    assert support.open_uploads(s3_client, bucket) == []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"shard": None}, "'shard' and 'dataset' objects"),
        ({"dataset": []}, "'shard' and 'dataset' objects"),
        ({"shard": {"index": -1}}, "shard.index"),
        ({"shard": {"index": True}}, "shard.index"),
        ({"shard": {"trainRows": 1.5}}, "shard.trainRows"),
        ({"shard": {"seed": 2**31}}, "shard.seed"),
        ({"dataset": {"prefix": "../other/"}}, "dataset.prefix"),
        ({"dataset": {"prefix": "runs/x"}}, "dataset.prefix"),
        ({"dataset": {"bucket": "someone-elses-bucket"}}, "dataset.bucket"),
        ({"dataset": {"noise": "1"}}, "dataset.noise"),
    ],
)
def test_a_malformed_shard_event_is_an_invalid_shard_request_and_writes_nothing(
    dataset_app: ModuleType,
    bucket: str,
    s3_client: Any,
    small_shards: int,
    change: dict[str, Any],
    words: str,
) -> None:
    dataset = planned(dataset_app, bucket)
    event: dict[str, Any] = {"shard": dict(dataset["shards"][0]), "dataset": dict(dataset)}
    for part, value in change.items():
        if isinstance(value, dict) and isinstance(event[part], dict):
            event[part].update(value)
        else:
            event[part] = value

    with pytest.raises(dataset_writer.InvalidShardRequest, match=words):
        dataset_app.lambda_handler(event, None)
    assert support.all_keys(s3_client, bucket) == set()


@pytest.mark.parametrize(("instances", "count"), [(1, 0), (2, 2), (8, 8)])
def test_training_on_several_instances_plans_at_least_one_shard_per_instance(
    dataset_app: ModuleType, instances: int, count: int
) -> None:
    """ShardedByS3Key hands each instance whole files: fewer files than instances would idle some."""
    spec = dataset_writer.DatasetSpec()  # 14,000 rows, far below one shard

    shards = dataset_writer.plan_shards(spec, dataset_writer.DEFAULT_SHARD_ROWS, min_shards=instances)

    assert len(shards) == count
    assert sum(s["trainRows"] for s in shards) == (spec.train_rows if count else 0)
