"""Generate Training Dataset: the events/ files, the files it writes, the noise floor, failed writes."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import dataset_writer
import pytest
import s3_stream
from botocore.exceptions import ClientError

from tests.unit import dataset_support as support


def test_event_file_writes_a_default_data_set_under_the_runs_prefix(
    dataset_app: ModuleType,
    bucket: str,
    s3_client: Any,
    load_event: Callable[[str], Any],
    lambda_context: Any,
) -> None:
    event = load_event("generate_dataset")

    result = dataset_app.lambda_handler(event, lambda_context)

    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert result["input"] == support.DEFAULT_INPUT
    dataset = result["dataset"]
    name = dataset["runName"]
    # The tuning job in events/functions/ExtractModelPathFunction/extract_model_path.json is this execution's.
    assert name == load_event("extract_model_path")["tuning"]["HyperParameterTuningJobName"]
    # <stack token>-<the execution name's first 10 characters>-<hash>
    assert name.startswith(f"{os.environ['STACK_TOKEN']}-{event['execution']['name'][:10]}-")
    base = f"s3://{bucket}/runs/{name}/"
    assert dataset["bucket"] == bucket
    assert dataset["prefix"] == f"runs/{name}/"
    for key in ("trainUri", "validationUri", "testUri", "modelOutputUri", "transformOutputUri"):
        assert dataset[key].startswith(base) and dataset[key].endswith("/"), key
    assert dataset["testLabelsUri"] == f"{base}data/test-labels/"
    assert dataset["tuningJobName"] == dataset["transformJobName"] == name
    assert dataset["rows"] == {"train": 10_000, "validation": 2_000, "test": 2_000}
    assert (dataset["features"], dataset["noise"], dataset["seed"]) == (10, 1.0, 42)
    assert support.all_keys(s3_client, bucket) == set(support.split_keys(dataset).values())


def test_overrides_event_uses_the_overrides_from_the_console_input_file(
    dataset_app: ModuleType, bucket: str, s3_client: Any, load_event: Callable[[str], Any]
) -> None:
    event = load_event("generate_dataset_overrides")
    assert event["input"] == load_event("execution_input_overrides")

    result = dataset_app.lambda_handler(event, None)

    assert result["input"] == event["input"]
    keys = support.split_keys(result["dataset"])
    assert len(support.read_rows(s3_client, bucket, keys["train"])) == event["input"]["trainRows"]
    assert len(support.read_rows(s3_client, bucket, keys["validation"])) == event["input"]["validationRows"]
    assert len(support.read_rows(s3_client, bucket, keys["test"])) == event["input"]["testRows"]
    assert result["dataset"]["noise"] == event["input"]["noise"]


def test_default_console_input_is_the_defaults(
    dataset_app: ModuleType, bucket: str, load_event: Callable[[str], Any]
) -> None:
    execution_input = load_event("execution_input_default")
    assert execution_input == {}

    assert (
        dataset_app.lambda_handler(support.event_for(execution_input), None)["input"] == support.DEFAULT_INPUT
    )


def test_output_has_every_dataset_field_the_state_machine_reads(
    dataset_app: ModuleType,
    bucket: str,
    load_event: Callable[[str], Any],
    state_machine_definition: dict[str, Any],
) -> None:
    definition = json.dumps(state_machine_definition)
    paths = set(re.findall(r'"\$\.dataset\.(\w+)"', definition))
    assert paths, "the definition reads no $.dataset field: the regex is out of date"

    result = dataset_app.lambda_handler(load_event("generate_dataset"), None)

    # shards: only in a sharded data set (the Choice tests IsPresent); the Map writes shardResults.
    assert paths - {"shards", "shardResults"} <= set(result["dataset"])
    # The task keeps the Payload as the state; later states read $.dataset and $.input from it.
    assert state_machine_definition["States"]["Generate Training Dataset"]["OutputPath"] == "$.Payload"


def test_returned_input_is_itself_a_valid_execution_input(dataset_app: ModuleType, bucket: str) -> None:
    result = dataset_app.lambda_handler(support.event_for({"noise": 0.25}), None)

    assert dataset_writer.parse_spec(result["input"]) == dataset_writer.parse_spec({"noise": 0.25})


def test_files_have_no_header_label_first_and_the_xgboost_column_counts(
    dataset_app: ModuleType, bucket: str, s3_client: Any
) -> None:
    # Without noise the first column must be exactly the target of the next ten.
    spec = {**support.SMALL_INPUT, "noise": 0}
    result = dataset_app.lambda_handler(support.event_for(spec), None)
    keys = support.split_keys(result["dataset"])

    train = support.read_rows(s3_client, bucket, keys["train"])
    validation = support.read_rows(s3_client, bucket, keys["validation"])
    test = support.read_rows(s3_client, bucket, keys["test"])
    labels = support.read_rows(s3_client, bucket, keys["testLabels"])

    assert len(train) == spec["trainRows"] and {len(row) for row in train} == {11}
    assert len(validation) == spec["validationRows"] and {len(row) for row in validation} == {11}
    assert len(test) == spec["testRows"] and {len(row) for row in test} == {10}
    assert len(labels) == spec["testRows"] and {len(row) for row in labels} == {1}
    # The features in the files are the ones the target was computed from: only the label's rounding to six
    # decimals (5e-7) separates them.
    for row in train + validation:
        assert row[0] == pytest.approx(support.friedman1(row[1:]), abs=1e-6)
        assert all(0.0 <= x < 1.0 for x in row[1:])
    for features, (label,) in zip(test, labels, strict=True):
        assert label == pytest.approx(support.friedman1(features), abs=1e-6)
    assert result["dataset"]["noiseFloorRmse"] == 0.0


def test_files_are_plain_ascii_csv_with_six_decimals_and_a_final_newline(
    dataset_app: ModuleType, bucket: str, s3_client: Any
) -> None:
    result = dataset_app.lambda_handler(support.event_for(support.SMALL_INPUT), None)

    for key in support.split_keys(result["dataset"]).values():
        text = support.read_object(s3_client, bucket, key).decode("ascii")
        assert text.endswith("\n") and not text.endswith("\n\n"), key
        assert "\r" not in text and " " not in text, key
        assert all(
            re.fullmatch(r"-?\d+\.\d{6}", cell) for cell in text.replace("\n", ",").strip(",").split(",")
        )
        assert s3_client.head_object(Bucket=bucket, Key=key)["ContentType"] == "text/csv"


def test_same_seed_gives_byte_identical_files(dataset_app: ModuleType, bucket: str, s3_client: Any) -> None:
    first = dataset_app.lambda_handler(support.event_for(support.SMALL_INPUT, name="first-run"), None)[
        "dataset"
    ]
    second = dataset_app.lambda_handler(support.event_for(support.SMALL_INPUT, name="second-run"), None)[
        "dataset"
    ]

    assert first["runName"] != second["runName"]
    for split, key in support.split_keys(first).items():
        assert support.read_object(s3_client, bucket, key) == support.read_object(
            s3_client, bucket, support.split_keys(second)[split]
        )
    assert first["noiseFloorRmse"] == second["noiseFloorRmse"]


def test_different_seeds_give_different_data(dataset_app: ModuleType, bucket: str, s3_client: Any) -> None:
    first = dataset_app.lambda_handler(
        support.event_for({**support.SMALL_INPUT, "seed": 1}, name="seed-1"), None
    )["dataset"]
    second = dataset_app.lambda_handler(
        support.event_for({**support.SMALL_INPUT, "seed": 2}, name="seed-2"), None
    )["dataset"]

    for split, key in support.split_keys(first).items():
        first_rows = support.read_rows(s3_client, bucket, key)
        second_rows = support.read_rows(s3_client, bucket, support.split_keys(second)[split])
        assert len(first_rows) == len(second_rows)
        # Not merely shuffled: hardly any value repeats.
        shared = {v for row in first_rows for v in row} & {v for row in second_rows for v in row}
        assert len(shared) < len(first_rows) // 10, split


@pytest.mark.parametrize(("noise", "seed"), [(1.0, 42), (1.0, 7), (0.5, 1), (3.0, 2), (10.0, 3)])
def test_noise_floor_is_the_noise_level(
    dataset_app: ModuleType, bucket: str, noise: float, seed: int
) -> None:
    test_rows = 2_000
    result = dataset_app.lambda_handler(
        support.event_for({"testRows": test_rows, "noise": noise, "seed": seed}), None
    )

    # The RMSE of n N(0, s^2) draws has a relative standard deviation of 1/sqrt(2n) (1.6 % here): 5 of them.
    tolerance = 5 / math.sqrt(2 * test_rows)
    assert result["dataset"]["noiseFloorRmse"] == pytest.approx(noise, rel=tolerance)


@pytest.mark.parametrize(("noise", "seed"), [(1.0, 42), (0.1, 5), (25.0, 9)])
def test_noise_floor_is_the_rmse_of_the_written_labels_against_the_target_of_the_written_features(
    dataset_app: ModuleType, bucket: str, s3_client: Any, noise: float, seed: int
) -> None:
    result = dataset_app.lambda_handler(
        support.event_for({**support.SMALL_INPUT, "testRows": 500, "noise": noise, "seed": seed}), None
    )
    keys = support.split_keys(result["dataset"])
    features = support.read_rows(s3_client, bucket, keys["test"])
    labels = [row[0] for row in support.read_rows(s3_client, bucket, keys["testLabels"])]

    recomputed = math.sqrt(
        sum((label - support.friedman1(x)) ** 2 for label, x in zip(labels, features, strict=True))
        / len(labels)
    )

    # The files hold the features exactly; the labels are rounded to six decimals (5e-7), the floor too.
    assert result["dataset"]["noiseFloorRmse"] == pytest.approx(recomputed, abs=2e-6)
    assert result["dataset"]["noiseFloorRmse"] > 0


def test_generate_streams_through_multipart_and_writes_the_same_bytes(
    dataset_app: ModuleType, bucket: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    single_client = support.RecordingClient(s3_client)
    monkeypatch.setattr(dataset_app, "_s3_client", lambda: single_client)
    single = dataset_app.lambda_handler(support.event_for(support.MULTIPART_INPUT, name="single-put"), None)[
        "dataset"
    ]
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1)
    monkeypatch.setattr(s3_stream, "PART_SIZE", support.SMALL_PART)
    client = support.RecordingClient(s3_client)
    monkeypatch.setattr(dataset_app, "_s3_client", lambda: client)
    multipart = dataset_app.lambda_handler(
        support.event_for(support.MULTIPART_INPUT, name="multipart"), None
    )["dataset"]

    assert {op for op, _ in single_client.calls} == {"put_object"}
    for split, key in support.split_keys(multipart).items():
        operations = client.operations(key)
        if split == "testLabels":  # smaller than one part
            assert operations == ["put_object"]
        else:
            assert operations[0] == "create_multipart_upload", split
            assert operations.count("upload_part") >= 3, split
            assert operations[-1] == "complete_multipart_upload", split
        single_key = support.split_keys(single)[split]
        assert support.read_object(s3_client, bucket, key) == support.read_object(
            s3_client, bucket, single_key
        )
    assert support.open_uploads(s3_client, bucket) == []


@pytest.mark.parametrize(
    ("operation", "key_part", "nth", "split"),
    [
        pytest.param("create_multipart_upload", "/train/", 1, "train", id="train-create"),
        pytest.param("upload_part", "/train/", 2, "train", id="train-second-part"),
        pytest.param("complete_multipart_upload", "/train/", 1, "train", id="train-complete"),
        pytest.param("upload_part", "/validation/", 2, "validation", id="validation-second-part"),
        pytest.param("upload_part", "/test/", 2, "test", id="test-second-part"),
        pytest.param("complete_multipart_upload", "/test/", 1, "test", id="test-complete"),
        # The features are complete by then: their object must go too.
        pytest.param("put_object", "/test-labels/", 1, "test", id="labels-after-features-complete"),
    ],
)
def test_write_failure_raises_dataset_write_error_and_leaves_nothing(
    dataset_app: ModuleType,
    bucket: str,
    s3_client: Any,
    small_parts: int,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    key_part: str,
    nth: int,
    split: str,
) -> None:
    client = support.RecordingClient(dataset_app._s3_client(), fail=operation, key_part=key_part, nth=nth)
    monkeypatch.setattr(dataset_app, "_s3_client", lambda: client)

    with pytest.raises(dataset_writer.DatasetWriteError) as raised:
        dataset_app.lambda_handler(support.event_for(support.MULTIPART_INPUT), None)

    assert client.failed

    assert raised.type is dataset_writer.DatasetWriteError
    assert f"/data/{split}/" in str(raised.value)
    assert "internal error" in str(raised.value)
    assert isinstance(raised.value.__cause__, ClientError)
    assert support.all_keys(s3_client, bucket) == set()
    assert support.open_uploads(s3_client, bucket) == []


def test_write_failure_reports_the_original_error_when_the_abort_fails_too(
    dataset_app: ModuleType, bucket: str, s3_client: Any, small_parts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = support.RecordingClient(
        dataset_app._s3_client(), fail="upload_part", key_part="/validation/", nth=2, fail_abort=True
    )
    monkeypatch.setattr(dataset_app, "_s3_client", lambda: client)

    with pytest.raises(dataset_writer.DatasetWriteError, match="internal error") as raised:
        dataset_app.lambda_handler(support.event_for(support.MULTIPART_INPUT), None)

    assert client.failed
    assert "reduce your rate" not in str(raised.value)
    assert "abort_multipart_upload" in [op for op, _ in client.calls]
    # The completed train split is still removed.
    assert not any("/train/" in key for key in support.all_keys(s3_client, bucket))
