"""Generate Training Dataset: input validation, the files it writes, the run's names, streaming to S3."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import load_event

STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:execution:TuningStateMachine-AbC123"
START = "2026-11-28T10:00:00.000Z"
TUNING_JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}")
JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
# SageMaker names a tuning job's training jobs <tuning job name>-<3 digits>-<8 hex>.
TRAINING_JOB_SUFFIX = "-013-1a2b3c4d"
DEFAULT_INPUT = {"trainRows": 10_000, "validationRows": 2_000, "testRows": 2_000, "noise": 1.0, "seed": 42}
SMALL_INPUT = {"trainRows": 300, "validationRows": 60, "testRows": 80, "noise": 1.0, "seed": 3}
SMALL_PART = 16 * 1024
# With 16 KiB parts: train, validation and test features go up in 3 parts or more, the labels in one put.
MULTIPART_INPUT = {"trainRows": 1_000, "validationRows": 400, "testRows": 400, "noise": 1.0, "seed": 3}
S3_MIN_PART = 5 * 1024 * 1024


@pytest.fixture
def app(load_handler: Callable[[str], ModuleType]) -> ModuleType:
    return load_handler("generate_dataset")


@pytest.fixture
def small_parts(app: ModuleType, monkeypatch: pytest.MonkeyPatch) -> int:
    """16 KiB parts, so a few hundred rows go through a multipart upload.

    moto enforces S3's 5 MiB minimum for all parts but the last, like S3: it is lowered here only.
    """
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1)
    monkeypatch.setattr(app, "PART_SIZE", SMALL_PART)
    return SMALL_PART


def event_for(
    execution_input: Any = None,
    *,
    name: str = "3f6c1b2e-9a4d-4c7e-8b21-5d0e7a9f4c13",
    state_machine: str = STATE_MACHINE,
    start: str = START,
) -> dict[str, Any]:
    return {
        "input": {} if execution_input is None else execution_input,
        # The template's defaults, as the state machine sends them (the generate_dataset.json event).
        "defaults": load_event("generate_dataset")["defaults"],
        "execution": {"id": f"{state_machine}:{name}", "name": name, "startTime": start},
    }


def friedman1(x: list[float]) -> float:
    """The noiseless target, written out again from REFERENCE section 7 (independent of the handler)."""
    return 10 * math.sin(math.pi * x[0] * x[1]) + 20 * (x[2] - 0.5) ** 2 + 10 * x[3] + 5 * x[4]


def read_object(s3_client: Any, bucket: str, key: str) -> bytes:
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


def read_rows(s3_client: Any, bucket: str, key: str) -> list[list[float]]:
    """The CSV as numbers; float() fails on a header or an empty cell."""
    text = read_object(s3_client, bucket, key).decode("ascii")
    return [[float(cell) for cell in row] for row in csv.reader(io.StringIO(text))]


def all_keys(s3_client: Any, bucket: str) -> set[str]:
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def open_uploads(s3_client: Any, bucket: str) -> list[dict[str, Any]]:
    return s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def split_keys(dataset: dict[str, Any]) -> dict[str, str]:
    prefix = dataset["prefix"]
    return {
        "train": f"{prefix}data/train/train.csv",
        "validation": f"{prefix}data/validation/validation.csv",
        "test": f"{prefix}data/test/test.csv",
        "testLabels": f"{prefix}data/test-labels/test.csv",
    }


# --- the events/ files and the contract with the state machine ----------------------------------------------


def test_event_file_writes_a_default_data_set_under_the_runs_prefix(
    app: ModuleType,
    bucket: str,
    s3_client: Any,
    load_event: Callable[[str], Any],
    lambda_context: Any,
) -> None:
    event = load_event("generate_dataset")

    result = app.lambda_handler(event, lambda_context)

    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert result["input"] == DEFAULT_INPUT
    dataset = result["dataset"]
    name = dataset["runName"]
    # The tuning job in extract_model_path.json (events/functions/) is this execution's.
    assert name == load_event("extract_model_path")["HyperParameterTuningJobName"]
    assert name.startswith(event["execution"]["name"][:18])
    base = f"s3://{bucket}/runs/{name}/"
    assert dataset["bucket"] == bucket
    assert dataset["prefix"] == f"runs/{name}/"
    for key in ("trainUri", "validationUri", "testUri", "modelOutputUri", "transformOutputUri"):
        assert dataset[key].startswith(base) and dataset[key].endswith("/"), key
    assert dataset["testLabelsUri"] == f"{base}data/test-labels/"
    assert dataset["tuningJobName"] == dataset["transformJobName"] == name
    assert dataset["rows"] == {"train": 10_000, "validation": 2_000, "test": 2_000}
    assert (dataset["features"], dataset["noise"], dataset["seed"]) == (10, 1.0, 42)
    assert all_keys(s3_client, bucket) == set(split_keys(dataset).values())


def test_overrides_event_uses_the_overrides_from_the_console_input_file(
    app: ModuleType, bucket: str, s3_client: Any, load_event: Callable[[str], Any]
) -> None:
    event = load_event("generate_dataset_overrides")
    assert event["input"] == load_event("execution_input_overrides")

    result = app.lambda_handler(event, None)

    assert result["input"] == event["input"]
    keys = split_keys(result["dataset"])
    assert len(read_rows(s3_client, bucket, keys["train"])) == event["input"]["trainRows"]
    assert len(read_rows(s3_client, bucket, keys["validation"])) == event["input"]["validationRows"]
    assert len(read_rows(s3_client, bucket, keys["test"])) == event["input"]["testRows"]
    assert result["dataset"]["noise"] == event["input"]["noise"]


def test_default_console_input_is_the_defaults(
    app: ModuleType, bucket: str, load_event: Callable[[str], Any]
) -> None:
    execution_input = load_event("execution_input_default")
    assert execution_input == {}

    assert app.lambda_handler(event_for(execution_input), None)["input"] == DEFAULT_INPUT


def test_output_has_every_dataset_field_the_state_machine_reads(
    app: ModuleType, bucket: str, load_event: Callable[[str], Any], state_machine_definition: dict[str, Any]
) -> None:
    definition = json.dumps(state_machine_definition)
    paths = set(re.findall(r'"\$\.dataset\.(\w+)"', definition))
    assert paths, "the definition reads no $.dataset field: the regex is out of date"

    result = app.lambda_handler(load_event("generate_dataset"), None)

    # shards: only in a sharded data set (the Choice tests IsPresent); the Map writes shardResults.
    assert paths - {"shards", "shardResults"} <= set(result["dataset"])
    # The task keeps the Payload as the state; later states read $.dataset and $.input from it.
    assert state_machine_definition["States"]["Generate Training Dataset"]["OutputPath"] == "$.Payload"


def test_returned_input_is_itself_a_valid_execution_input(app: ModuleType, bucket: str) -> None:
    result = app.lambda_handler(event_for({"noise": 0.25}), None)

    assert app.parse_spec(result["input"]) == app.parse_spec({"noise": 0.25})


# --- the files ----------------------------------------------------------------------------------------------


def test_files_have_no_header_label_first_and_the_xgboost_column_counts(
    app: ModuleType, bucket: str, s3_client: Any
) -> None:
    # Without noise the first column must be exactly the target of the next ten.
    spec = {**SMALL_INPUT, "noise": 0}
    result = app.lambda_handler(event_for(spec), None)
    keys = split_keys(result["dataset"])

    train = read_rows(s3_client, bucket, keys["train"])
    validation = read_rows(s3_client, bucket, keys["validation"])
    test = read_rows(s3_client, bucket, keys["test"])
    labels = read_rows(s3_client, bucket, keys["testLabels"])

    assert len(train) == spec["trainRows"] and {len(row) for row in train} == {11}
    assert len(validation) == spec["validationRows"] and {len(row) for row in validation} == {11}
    assert len(test) == spec["testRows"] and {len(row) for row in test} == {10}
    assert len(labels) == spec["testRows"] and {len(row) for row in labels} == {1}
    # The features in the files are the ones the target was computed from: only the label's rounding to six
    # decimals (5e-7) separates them.
    for row in train + validation:
        assert row[0] == pytest.approx(friedman1(row[1:]), abs=1e-6)
        assert all(0.0 <= x < 1.0 for x in row[1:])
    for features, (label,) in zip(test, labels, strict=True):
        assert label == pytest.approx(friedman1(features), abs=1e-6)
    assert result["dataset"]["noiseFloorRmse"] == 0.0


def test_files_are_plain_ascii_csv_with_six_decimals_and_a_final_newline(
    app: ModuleType, bucket: str, s3_client: Any
) -> None:
    result = app.lambda_handler(event_for(SMALL_INPUT), None)

    for key in split_keys(result["dataset"]).values():
        text = read_object(s3_client, bucket, key).decode("ascii")
        assert text.endswith("\n") and not text.endswith("\n\n"), key
        assert "\r" not in text and " " not in text, key
        assert all(
            re.fullmatch(r"-?\d+\.\d{6}", cell) for cell in text.replace("\n", ",").strip(",").split(",")
        )
        assert s3_client.head_object(Bucket=bucket, Key=key)["ContentType"] == "text/csv"


def test_same_seed_gives_byte_identical_files(app: ModuleType, bucket: str, s3_client: Any) -> None:
    first = app.lambda_handler(event_for(SMALL_INPUT, name="first-run"), None)["dataset"]
    second = app.lambda_handler(event_for(SMALL_INPUT, name="second-run"), None)["dataset"]

    assert first["runName"] != second["runName"]
    for split, key in split_keys(first).items():
        assert read_object(s3_client, bucket, key) == read_object(
            s3_client, bucket, split_keys(second)[split]
        )
    assert first["noiseFloorRmse"] == second["noiseFloorRmse"]


def test_different_seeds_give_different_data(app: ModuleType, bucket: str, s3_client: Any) -> None:
    first = app.lambda_handler(event_for({**SMALL_INPUT, "seed": 1}, name="seed-1"), None)["dataset"]
    second = app.lambda_handler(event_for({**SMALL_INPUT, "seed": 2}, name="seed-2"), None)["dataset"]

    for split, key in split_keys(first).items():
        first_rows = read_rows(s3_client, bucket, key)
        second_rows = read_rows(s3_client, bucket, split_keys(second)[split])
        assert len(first_rows) == len(second_rows)
        # Not merely shuffled: hardly any value repeats.
        shared = {v for row in first_rows for v in row} & {v for row in second_rows for v in row}
        assert len(shared) < len(first_rows) // 10, split


@pytest.mark.parametrize(("noise", "seed"), [(1.0, 42), (1.0, 7), (0.5, 1), (3.0, 2), (10.0, 3)])
def test_noise_floor_is_the_noise_level(app: ModuleType, bucket: str, noise: float, seed: int) -> None:
    test_rows = 2_000
    result = app.lambda_handler(event_for({"testRows": test_rows, "noise": noise, "seed": seed}), None)

    # The RMSE of n N(0, s^2) draws has a relative standard deviation of 1/sqrt(2n) (1.6 % here): 5 of them.
    tolerance = 5 / math.sqrt(2 * test_rows)
    assert result["dataset"]["noiseFloorRmse"] == pytest.approx(noise, rel=tolerance)


@pytest.mark.parametrize(("noise", "seed"), [(1.0, 42), (0.1, 5), (25.0, 9)])
def test_noise_floor_is_the_rmse_of_the_written_labels_against_the_target_of_the_written_features(
    app: ModuleType, bucket: str, s3_client: Any, noise: float, seed: int
) -> None:
    result = app.lambda_handler(
        event_for({**SMALL_INPUT, "testRows": 500, "noise": noise, "seed": seed}), None
    )
    keys = split_keys(result["dataset"])
    features = read_rows(s3_client, bucket, keys["test"])
    labels = [row[0] for row in read_rows(s3_client, bucket, keys["testLabels"])]

    recomputed = math.sqrt(
        sum((label - friedman1(x)) ** 2 for label, x in zip(labels, features, strict=True)) / len(labels)
    )

    # The files hold the features exactly; the labels are rounded to six decimals (5e-7), the floor too.
    assert result["dataset"]["noiseFloorRmse"] == pytest.approx(recomputed, abs=2e-6)
    assert result["dataset"]["noiseFloorRmse"] > 0


# --- the generator -----------------------------------------------------------------------------------------

# chi-square with 9 degrees of freedom: exceeded with probability 0.001 by uniform digits.
CHI2_9_P001 = 27.88


def _batches(app: ModuleType, rows: int, seed: int, noise: float) -> tuple[list[float], list[list[float]]]:
    rng = random.Random(seed)
    labels: list[float] = []
    features: list[list[float]] = []
    for start in range(0, rows, app.BATCH_ROWS):
        batch_labels, lines, _ = app.friedman1_batch(min(app.BATCH_ROWS, rows - start), rng, noise)
        labels += batch_labels
        features += [[float(v) for v in line.split(b",")] for line in lines.splitlines()]
    return labels, features


def _chi2(counts: list[int]) -> float:
    expected = sum(counts) / len(counts)
    return sum((c - expected) ** 2 / expected for c in counts)


def test_every_digit_of_every_feature_is_uniform(app: ModuleType) -> None:
    """Both ways of drawing features (integer millionths, random bytes mapped to digits) give uniform digits
    in every decimal place: a mapping of all 256 byte values to digits would favour 0-5 by 4 %."""
    _, features = _batches(app, 20_000, seed=11, noise=1.0)
    texts = [[f"{x:.6f}"[2:] for x in row] for row in features]

    for feature in range(app.N_FEATURES):
        for place in range(app.DECIMALS):
            counts = [0] * 10
            for row in texts:
                counts[int(row[feature][place])] += 1
            assert _chi2(counts) < CHI2_9_P001, (feature, place, counts)
        mean = sum(row[feature] for row in features) / len(features)
        assert mean == pytest.approx(0.5, abs=5 * 0.2887 / math.sqrt(len(features)))


def test_features_of_a_row_are_not_correlated(app: ModuleType) -> None:
    _, features = _batches(app, 20_000, seed=12, noise=1.0)
    n = len(features)
    limit = 5 / math.sqrt(n)  # five standard errors of a correlation of independent variables
    means = [sum(row[i] for row in features) / n for i in range(app.N_FEATURES)]
    sds = [math.sqrt(sum((row[i] - means[i]) ** 2 for row in features) / n) for i in range(app.N_FEATURES)]
    for i in range(app.N_FEATURES):
        for j in range(i + 1, app.N_FEATURES):
            cov = sum((row[i] - means[i]) * (row[j] - means[j]) for row in features) / n
            assert abs(cov / (sds[i] * sds[j])) < limit, (i, j)


@pytest.mark.parametrize("noise", [1.0, 0.2, 7.5])
def test_noise_is_normal_with_the_asked_standard_deviation(app: ModuleType, noise: float) -> None:
    labels, features = _batches(app, 20_001, seed=13, noise=noise)  # odd: the last pair is cut
    residuals = [label - friedman1(x) for label, x in zip(labels, features, strict=True)]
    n = len(residuals)
    mean = sum(residuals) / n
    sd = math.sqrt(sum((r - mean) ** 2 for r in residuals) / n)

    assert n == 20_001
    assert mean == pytest.approx(0, abs=5 * noise / math.sqrt(n))
    assert sd == pytest.approx(noise, rel=5 / math.sqrt(2 * n))
    # The share within one standard deviation of a normal distribution is 0.6827.
    within = sum(abs(r) < noise for r in residuals) / n
    assert within == pytest.approx(0.6827, abs=5 * math.sqrt(0.6827 * 0.3173 / n))


def test_batch_returns_the_squared_noise_of_its_rows(app: ModuleType) -> None:
    labels, lines, squared_noise = app.friedman1_batch(500, random.Random(4), 2.0)
    features = [[float(v) for v in line.split(b",")] for line in lines.splitlines()]

    recomputed = sum((y - friedman1(x)) ** 2 for y, x in zip(labels, features, strict=True))
    assert squared_noise == pytest.approx(recomputed, rel=1e-9)
    assert app.friedman1_batch(500, random.Random(4), 0.0)[2] == 0.0


@pytest.mark.parametrize("count", [-1, 1_001])
def test_batch_of_more_rows_than_its_template_is_refused(app: ModuleType, count: int) -> None:
    with pytest.raises(ValueError, match="a batch is 0 to 1000 rows"):
        app.friedman1_batch(count, random.Random(1), 1.0)


@pytest.mark.parametrize("count", [0, 1, 7, 250, 1_000_000])
def test_random_digits_are_digits_of_the_asked_count_and_reproducible(app: ModuleType, count: int) -> None:
    digits = app.random_digits(random.Random(5), count)

    assert len(digits) == count
    assert set(digits) <= set(b"0123456789")
    assert digits == app.random_digits(random.Random(5), count)
    if count >= 1_000_000:  # a mapping of all 256 byte values gives a chi-square of about 360
        assert _chi2([digits.count(d) for d in b"0123456789"]) < CHI2_9_P001


def test_labelled_lines_put_each_label_before_its_features(app: ModuleType) -> None:
    assert app.labelled_lines([1.5, -0.25], b"0.000001,0.5\n0.999999,0.25\n") == (
        b"1.500000,0.000001,0.5\n-0.250000,0.999999,0.25\n"
    )
    assert app.labelled_lines([], b"") == b""


# --- the run's name -----------------------------------------------------------------------------------------


def _execution_names() -> Iterator[str]:
    rng = random.Random(20261128)
    for _ in range(200):  # console-started executions: 36-character UUIDs
        yield str(uuid.UUID(int=rng.getrandbits(128), version=4))
    yield from [
        "a" * 80,  # the longest execution name Step Functions accepts
        "A" * 80,
        "x-" * 40,
        "nightly-retrain-2026-11-28T10-00-00Z",
        "Nightly_Retrain.v2",
        "exécution-été-2026",
        "実行-テスト",
        "🚀🚀🚀",
        "İstanbul-ǅemal-ß",
        "---",
        "___",
        "...",
        "-",
        "a",
        "0",
        "abcdefghijklmnopqr-s",  # the slug cut lands on a hyphen
        "abcdefghijklmnopqrs-tuvwxyz",
        "-leading-and-trailing-",
        "a" + "-" * 50 + "b",
    ]


@pytest.mark.parametrize("start", [START, "2027-01-01T00:00:00.001Z"])
def test_run_name_is_a_valid_tuning_job_name_for_any_execution_name(app: ModuleType, start: str) -> None:
    for name in _execution_names():
        execution = app.Execution(arn=f"{STATE_MACHINE}:{name}", name=name, start_time=start)
        run = app.run_name(execution)

        assert len(run) <= 32, (name, run)
        assert TUNING_JOB_NAME.fullmatch(run), (name, run)
        assert JOB_NAME.fullmatch(run + TRAINING_JOB_SUFFIX), (name, run)
        assert len(run + TRAINING_JOB_SUFFIX) <= 63
        # ARNs carry names in lower case: a lower-case name is the one read back from an ARN.
        assert run == run.lower()
        assert app.run_name(execution) == run


def test_run_name_keeps_a_readable_part_of_the_execution_name(app: ModuleType) -> None:
    execution = app.Execution(
        arn=f"{STATE_MACHINE}:Nightly_Retrain", name="Nightly_Retrain", start_time=START
    )
    punctuation = app.Execution(arn=f"{STATE_MACHINE}:___", name="___", start_time=START)

    assert app.run_name(execution).startswith("nightly-retrain-")
    assert app.run_name(punctuation).startswith("run-")


def test_run_names_of_different_executions_differ(app: ModuleType) -> None:
    names = list(_execution_names())
    runs = [
        app.run_name(app.Execution(arn=f"{machine}:{name}", name=name, start_time=start))
        for name in names
        for machine in (STATE_MACHINE, STATE_MACHINE.replace("AbC123", "XyZ789"))
        for start in (START, "2026-11-28T10:00:00.001Z")
    ]

    assert len(set(runs)) == len(runs) == len(names) * 4


def test_execution_name_reused_after_the_first_one_ended_gets_a_new_run_name(app: ModuleType) -> None:
    """Same state machine, same name, a later start (after the execution history expired)."""
    arn = f"{STATE_MACHINE}:weekly"
    first = app.run_name(app.Execution(arn=arn, name="weekly", start_time=START))
    later = app.run_name(app.Execution(arn=arn, name="weekly", start_time="2027-03-01T10:00:00.000Z"))

    assert first != later


def test_two_executions_with_the_same_name_never_share_a_key(
    app: ModuleType, bucket: str, s3_client: Any
) -> None:
    first = app.lambda_handler(event_for(SMALL_INPUT, name="same-name"), None)["dataset"]
    first_keys = all_keys(s3_client, bucket)
    other_machine = STATE_MACHINE.replace("AbC123", "XyZ789")
    second = app.lambda_handler(event_for(SMALL_INPUT, name="same-name", state_machine=other_machine), None)
    second_keys = all_keys(s3_client, bucket) - first_keys

    assert first["runName"] != second["dataset"]["runName"]
    assert len(first_keys) == len(second_keys) == 4
    assert all(key.startswith(f"runs/{first['runName']}/") for key in first_keys)
    assert all(key.startswith(f"runs/{second['dataset']['runName']}/") for key in second_keys)
    for uri_key in ("trainUri", "validationUri", "testUri", "modelOutputUri", "transformOutputUri"):
        assert not second["dataset"][uri_key].startswith(first["prefix"])
        assert not first[uri_key].startswith(second["dataset"]["prefix"])


# --- streaming to S3 ----------------------------------------------------------------------------------------


class RecordingClient:
    """Delegates to the (moto) S3 client and records the calls; can fail the n-th call of one operation."""

    def __init__(
        self, client: Any, fail: str | None = None, key_part: str = "", nth: int = 1, fail_abort: bool = False
    ) -> None:
        self._client, self._fail, self._key_part, self._nth = client, fail, key_part, nth
        self._fail_abort = fail_abort
        self._seen = 0
        self.failed = False
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, operation: str) -> Any:
        method = getattr(self._client, operation)

        def call(**kwargs: Any) -> Any:
            self.calls.append((operation, kwargs))
            key = kwargs.get("Key", "")
            if operation == self._fail and self._key_part in key:
                self._seen += 1
                if self._seen == self._nth:
                    self.failed = True
                    raise ClientError(
                        {"Error": {"Code": "InternalError", "Message": "We encountered an internal error."}},
                        operation,
                    )
            if operation == "abort_multipart_upload" and self._fail_abort:
                raise ClientError(
                    {"Error": {"Code": "SlowDown", "Message": "Please reduce your rate."}}, operation
                )
            return method(**kwargs)

        return call

    def operations(self, key: str) -> list[str]:
        return [operation for operation, kwargs in self.calls if kwargs.get("Key") == key]


def test_part_size_is_at_least_s3s_minimum(app: ModuleType) -> None:
    assert app.PART_SIZE >= S3_MIN_PART


def test_stream_writer_sends_a_small_object_in_one_put(app: ModuleType, bucket: str, s3_client: Any) -> None:
    client = RecordingClient(s3_client)
    with app.S3StreamWriter(client, bucket, "small.csv") as writer:
        writer.write("1.000000,2.000000\n")

    assert client.operations("small.csv") == ["put_object"]
    assert read_object(s3_client, bucket, "small.csv") == b"1.000000,2.000000\n"


def test_stream_writer_uploads_parts_and_the_object_is_byte_identical(
    app: ModuleType, bucket: str, s3_client: Any, small_parts: int
) -> None:
    client = RecordingClient(s3_client)
    lines = [f"{i:06d},{i * 0.5:.6f},{'7' * 80}\n" for i in range(2_000)]

    with app.S3StreamWriter(client, bucket, "big.csv") as writer:
        for line in lines:
            writer.write(line)

    operations = client.operations("big.csv")
    assert operations[0] == "create_multipart_upload"
    assert operations[-1] == "complete_multipart_upload"
    assert "put_object" not in operations
    parts = [kwargs for operation, kwargs in client.calls if operation == "upload_part"]
    assert len(parts) >= 10
    assert [part["PartNumber"] for part in parts] == list(range(1, len(parts) + 1))
    assert all(len(part["Body"]) >= small_parts for part in parts[:-1])
    assert read_object(s3_client, bucket, "big.csv") == "".join(lines).encode()
    assert writer.bytes_written == len("".join(lines))
    assert open_uploads(s3_client, bucket) == []


def test_stream_writer_meets_s3s_real_minimum_part_size(app: ModuleType, bucket: str, s3_client: Any) -> None:
    """moto refuses (EntityTooSmall) a non-last part under 5 MiB, as S3 does: here it is not lowered."""
    client = RecordingClient(s3_client)
    chunk = "0123456789," * 5_957 + "\n"  # about 64 KiB
    chunks = [chunk] * 176  # about 11 MiB: two full parts and a short last one

    with app.S3StreamWriter(client, bucket, "large.csv", part_size=S3_MIN_PART) as writer:
        for piece in chunks:
            writer.write(piece)

    assert client.operations("large.csv").count("upload_part") == 3
    assert read_object(s3_client, bucket, "large.csv") == "".join(chunks).encode()


def test_stream_writer_aborts_its_upload_on_an_exception(
    app: ModuleType, bucket: str, s3_client: Any, small_parts: int
) -> None:
    with (
        pytest.raises(RuntimeError, match="row generator broke"),
        app.S3StreamWriter(s3_client, bucket, "x.csv") as w,
    ):
        w.write("1" * (small_parts + 1))  # one part uploaded
        raise RuntimeError("row generator broke")

    assert open_uploads(s3_client, bucket) == []
    assert all_keys(s3_client, bucket) == set()


class GatedClient:
    """An S3 client whose upload_part waits until the test lets it go; records how many run at once."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.release = threading.Event()
        self.started: list[int] = []
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def __getattr__(self, operation: str) -> Any:
        return getattr(self._client, operation)

    def upload_part(self, **kwargs: Any) -> Any:
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            self.started.append(kwargs["PartNumber"])
        try:
            if not self.release.wait(10):
                raise TimeoutError("the test never released the part")
            return self._client.upload_part(**kwargs)
        finally:
            with self._lock:
                self.running -= 1


def _sender_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("s3-part")]


def test_stream_writer_sends_a_part_in_the_background_one_at_a_time(
    app: ModuleType, bucket: str, s3_client: Any, small_parts: int
) -> None:
    existing = set(_sender_threads())  # threads another test may have left are not this writer's
    client = GatedClient(s3_client)
    writer = app.S3StreamWriter(client, bucket, "background.csv")

    writer.write("a" * small_parts)  # part 1 goes to the sender, which waits in upload_part
    deadline = time.monotonic() + 5
    while client.started != [1] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.started == [1]  # the write returned while its part is still being sent

    sent = threading.Thread(target=writer.write, args=("b" * small_parts,))  # part 2 waits for part 1
    sent.start()
    time.sleep(0.2)
    assert client.started == [1] and sent.is_alive()
    client.release.set()
    sent.join(10)
    assert not sent.is_alive()
    writer.close()

    assert client.started == [1, 2]
    assert client.most_running == 1
    assert read_object(s3_client, bucket, "background.csv") == b"a" * small_parts + b"b" * small_parts
    assert writer.bytes_written == 2 * small_parts
    assert set(_sender_threads()) <= existing


@pytest.mark.parametrize("raised_by", ["write", "close"])
def test_part_failing_in_the_background_is_raised_by_the_next_call_and_nothing_is_left(
    app: ModuleType, bucket: str, s3_client: Any, small_parts: int, raised_by: str
) -> None:
    existing = set(_sender_threads())
    client = RecordingClient(s3_client, fail="upload_part", nth=1)

    with (
        pytest.raises(ClientError, match="internal error"),
        app.S3StreamWriter(client, bucket, "failing.csv") as writer,
    ):
        writer.write("1" * small_parts)  # part 1 fails in the sender
        if raised_by == "write":
            writer.write("2" * small_parts)  # waits for part 1: its error is raised here

    assert client.failed
    assert [op for op, _ in client.calls].count("abort_multipart_upload") == 1
    assert open_uploads(s3_client, bucket) == []
    assert all_keys(s3_client, bucket) == set()
    assert set(_sender_threads()) <= existing


class SlowSink:
    """An S3 client that keeps only sizes and takes ``delay`` seconds per part (a slow network)."""

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay
        self.parts: list[int] = []
        self.objects: dict[str, int] = {}
        self.aborted = 0

    def create_multipart_upload(self, **_: Any) -> dict[str, Any]:
        return {"UploadId": "u"}

    def upload_part(self, *, Body: bytes, PartNumber: int, **_: Any) -> dict[str, Any]:
        time.sleep(self.delay)
        self.parts.append(len(Body))
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(self, *, Key: str, **_: Any) -> dict[str, Any]:
        self.objects[Key] = sum(self.parts)
        return {}

    def put_object(self, *, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self.objects[Key] = len(Body)
        return {}

    def abort_multipart_upload(self, **_: Any) -> dict[str, Any]:
        self.aborted += 1
        return {}


def test_stream_writer_holds_at_most_two_parts_while_one_is_being_sent(app: ModuleType) -> None:
    """The part in flight is waited for before the next one is joined: the one being sent and the one being
    filled, not a third (measured with tracemalloc, the parts 1 MiB, the chunks 64 KiB)."""
    part = 1024 * 1024
    chunk = b"7" * (64 * 1024)
    client = SlowSink()
    writer = app.S3StreamWriter(client, "bucket", "k.csv", part_size=part)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(96):  # 6 MiB: six parts, each chunk its own object (as a batch's text is)
            writer.write(bytearray(chunk))
        writer.close()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()

    assert client.parts == [part] * 6
    assert peak < 2.5 * part, peak


@pytest.mark.parametrize("kind", [str, bytes, bytearray, memoryview])
def test_stream_writer_takes_text_and_bytes_like_data_in_chunks_larger_than_a_part(
    app: ModuleType, bucket: str, s3_client: Any, small_parts: int, kind: type
) -> None:
    text = "".join(f"{i:07d}\n" for i in range(12_000))  # 96,000 bytes: almost six 16 KiB parts at once
    data = text if kind is str else kind(text.encode())

    with app.S3StreamWriter(s3_client, bucket, "one-write.csv") as writer:
        writer.write(data)
        writer.write(data)

    assert read_object(s3_client, bucket, "one-write.csv") == text.encode() * 2
    assert writer.bytes_written == 2 * len(text)


def test_stream_writer_refuses_other_data_and_writes_after_close(app: ModuleType) -> None:
    client = SlowSink(delay=0)
    writer = app.S3StreamWriter(client, "bucket", "k.csv")
    with pytest.raises(TypeError, match="str or bytes-like data, not int"):
        writer.write(3)  # bytes(3) would be three NUL bytes
    writer.write("1.000000\n")
    writer.close()
    writer.close()  # a second close changes nothing

    with pytest.raises(ValueError, match="write after close"):
        writer.write("2.000000\n")
    assert client.objects == {"k.csv": 9}


def test_stream_writer_aborts_when_completing_the_upload_fails(
    app: ModuleType, bucket: str, s3_client: Any, small_parts: int
) -> None:
    client = RecordingClient(s3_client, fail="complete_multipart_upload")

    with (
        pytest.raises(ClientError, match="internal error"),
        app.S3StreamWriter(client, bucket, "unfinished.csv") as writer,
    ):
        writer.write("5" * (3 * small_parts))

    assert [op for op, _ in client.calls].count("abort_multipart_upload") == 1
    assert open_uploads(s3_client, bucket) == []
    assert all_keys(s3_client, bucket) == set()


def test_batch_of_no_rows_is_empty(app: ModuleType) -> None:
    labels, lines, squared_noise = app.friedman1_batch(0, random.Random(1), 1.0)

    assert (labels, bytes(lines), squared_noise) == ([], b"", 0)


def test_generate_streams_through_multipart_and_writes_the_same_bytes(
    app: ModuleType, bucket: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    single_client = RecordingClient(s3_client)
    monkeypatch.setattr(app, "s3", single_client)
    single = app.lambda_handler(event_for(MULTIPART_INPUT, name="single-put"), None)["dataset"]
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1)
    monkeypatch.setattr(app, "PART_SIZE", SMALL_PART)
    client = RecordingClient(s3_client)
    monkeypatch.setattr(app, "s3", client)
    multipart = app.lambda_handler(event_for(MULTIPART_INPUT, name="multipart"), None)["dataset"]

    assert {op for op, _ in single_client.calls} == {"put_object"}
    for split, key in split_keys(multipart).items():
        operations = client.operations(key)
        if split == "testLabels":  # smaller than one part
            assert operations == ["put_object"]
        else:
            assert operations[0] == "create_multipart_upload", split
            assert operations.count("upload_part") >= 3, split
            assert operations[-1] == "complete_multipart_upload", split
        single_key = split_keys(single)[split]
        assert read_object(s3_client, bucket, key) == read_object(s3_client, bucket, single_key)
    assert open_uploads(s3_client, bucket) == []


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
    app: ModuleType,
    bucket: str,
    s3_client: Any,
    small_parts: int,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    key_part: str,
    nth: int,
    split: str,
) -> None:
    client = RecordingClient(app._s3_client(), fail=operation, key_part=key_part, nth=nth)
    monkeypatch.setattr(app, "s3", client)

    with pytest.raises(app.DatasetWriteError) as raised:
        app.lambda_handler(event_for(MULTIPART_INPUT), None)

    assert client.failed

    assert raised.type is app.DatasetWriteError
    assert f"/data/{split}/" in str(raised.value)
    assert "internal error" in str(raised.value)
    assert isinstance(raised.value.__cause__, ClientError)
    assert all_keys(s3_client, bucket) == set()
    assert open_uploads(s3_client, bucket) == []


def test_write_failure_reports_the_original_error_when_the_abort_fails_too(
    app: ModuleType, bucket: str, s3_client: Any, small_parts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = RecordingClient(
        app._s3_client(), fail="upload_part", key_part="/validation/", nth=2, fail_abort=True
    )
    monkeypatch.setattr(app, "s3", client)

    with pytest.raises(app.DatasetWriteError, match="internal error") as raised:
        app.lambda_handler(event_for(MULTIPART_INPUT), None)

    assert client.failed
    assert "reduce your rate" not in str(raised.value)
    assert "abort_multipart_upload" in [op for op, _ in client.calls]
    # The completed train split is still removed.
    assert not any("/train/" in key for key in all_keys(s3_client, bucket))


# --- configuration and bad input --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""])
def test_missing_bucket_name_raises_configuration_error(
    app: ModuleType, s3_client: Any, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("BUCKET_NAME", raising=False)
    else:
        monkeypatch.setenv("BUCKET_NAME", value)

    with pytest.raises(app.ConfigurationError, match="BUCKET_NAME") as raised:
        app.lambda_handler(event_for({}), None)

    assert raised.type is app.ConfigurationError


@pytest.mark.parametrize(
    ("event", "type_name"), [(None, "NoneType"), ([], "list"), ("{}", "str"), (42, "int"), (True, "bool")]
)
def test_event_that_is_not_an_object_raises_invalid_execution_input(
    app: ModuleType, bucket: str, event: Any, type_name: str
) -> None:
    with pytest.raises(app.InvalidExecutionInput, match=type_name) as raised:
        app.lambda_handler(event, None)

    assert raised.type is app.InvalidExecutionInput


@pytest.mark.parametrize(
    ("execution_input", "type_name"),
    [([], "list"), (["trainRows", 100], "list"), ("trainRows=100", "str"), (100, "int"), (True, "bool")],
)
def test_execution_input_that_is_not_an_object_raises_invalid_execution_input(
    app: ModuleType, bucket: str, s3_client: Any, execution_input: Any, type_name: str
) -> None:
    with pytest.raises(
        app.InvalidExecutionInput, match=f"execution input must be a JSON object, got {type_name}"
    ):
        app.lambda_handler(event_for(execution_input), None)

    assert all_keys(s3_client, bucket) == set()


def test_null_or_absent_execution_input_means_the_defaults(app: ModuleType, bucket: str) -> None:
    absent = event_for({})
    del absent["input"]
    null = event_for({})
    null["input"] = None

    assert app.lambda_handler(absent, None)["input"] == DEFAULT_INPUT
    assert app.lambda_handler(null, None)["input"] == DEFAULT_INPUT


@pytest.mark.parametrize(
    "execution_input",
    [
        {"rows": 100},
        {"trainrows": 100},
        {"TrainRows": 100},
        {"train_rows": 100},
        {"trainRows": 100, "epochs": 3},
        {"": 1},
        {"input": {"trainRows": 100}},
    ],
)
def test_unknown_key_raises_invalid_execution_input_naming_it_and_the_allowed_keys(
    app: ModuleType, bucket: str, s3_client: Any, execution_input: dict[str, Any]
) -> None:
    unknown = next(key for key in execution_input if key not in DEFAULT_INPUT)

    with pytest.raises(app.InvalidExecutionInput) as raised:
        app.lambda_handler(event_for(execution_input), None)

    message = str(raised.value)
    assert raised.type is app.InvalidExecutionInput
    assert f"unknown key '{unknown}'" in message
    assert "in the execution input; allowed keys: " in message
    assert all(key in message.split("allowed keys: ")[1] for key in DEFAULT_INPUT)
    assert all_keys(s3_client, bucket) == set()


@pytest.mark.parametrize("key", list(DEFAULT_INPUT))
@pytest.mark.parametrize(
    "value",
    [
        pytest.param("100", id="numeric-string"),
        pytest.param("", id="empty-string"),
        pytest.param([100], id="list"),
        pytest.param({"value": 100}, id="nested-object"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(None, id="null"),
    ],
)
def test_value_of_wrong_type_raises_invalid_execution_input_naming_key_and_value(
    app: ModuleType, bucket: str, key: str, value: Any
) -> None:
    with pytest.raises(app.InvalidExecutionInput) as raised:
        app.lambda_handler(event_for({key: value}), None)

    assert raised.type is app.InvalidExecutionInput
    expected = "a number" if key == "noise" else "a whole number"
    assert str(raised.value) == f"{key} must be {expected}, got {json.dumps(value)}"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("trainRows", 99),
        ("trainRows", 0),
        ("trainRows", -1),
        ("trainRows", 100_000_001),
        # JSON allows any integer: these overflowed math.isfinite.
        pytest.param("trainRows", 10**400, id="trainRows-10**400"),
        pytest.param("trainRows", -(10**400), id="trainRows--10**400"),
        ("trainRows", 1e300),
        ("validationRows", 19),
        ("validationRows", -20),
        ("testRows", 19),
        ("testRows", 10_000_001),
        ("noise", -0.001),
        ("noise", -1),
        ("noise", 100.0001),
        pytest.param("noise", 10**400, id="noise-10**400"),
        ("noise", float("inf")),
        ("noise", float("-inf")),
        ("seed", -1),
        ("seed", 2**31),
        ("seed", 2**63),
    ],
)
def test_out_of_range_value_raises_invalid_execution_input_naming_key_and_value(
    app: ModuleType, bucket: str, s3_client: Any, key: str, value: float
) -> None:
    with pytest.raises(app.InvalidExecutionInput) as raised:
        app.lambda_handler(event_for({key: value}), None)

    message = str(raised.value)
    assert raised.type is app.InvalidExecutionInput
    assert message.startswith((f"{key} must be >= ", f"{key} must be <= "))
    shown = json.dumps(value)
    assert message.endswith(f"got {shown}" if len(shown) <= 80 else "...")
    assert all_keys(s3_client, bucket) == set()


@pytest.mark.parametrize("key", ["trainRows", "validationRows", "testRows", "seed"])
@pytest.mark.parametrize("value", [100.5, 1000.000001, -0.5, float("inf"), float("-inf")])
def test_non_integer_count_raises_invalid_execution_input_naming_key_and_value(
    app: ModuleType, bucket: str, key: str, value: float
) -> None:
    with pytest.raises(app.InvalidExecutionInput) as raised:
        app.lambda_handler(event_for({key: value}), None)

    assert raised.type is app.InvalidExecutionInput
    assert str(raised.value) == f"{key} must be a whole number, got {json.dumps(value)}"


@pytest.mark.parametrize("key", [*DEFAULT_INPUT, "maxTestRmse"])
def test_nan_raises_invalid_execution_input_naming_the_key(app: ModuleType, bucket: str, key: str) -> None:
    # JSON has no NaN, but NaN would pass every minimum and maximum of the schema.
    with pytest.raises(app.InvalidExecutionInput) as raised:
        app.lambda_handler(event_for({key: float("nan")}), None)

    assert str(raised.value) == f"{key} must be a finite number, got NaN"


@pytest.mark.parametrize(
    ("execution_input", "attribute", "expected"),
    [
        ({"trainRows": 100}, "train_rows", 100),
        ({"trainRows": 1_000_000}, "train_rows", 1_000_000),
        ({"trainRows": 500.0}, "train_rows", 500),  # JSON 500.0 is a whole number
        ({"validationRows": 20}, "validation_rows", 20),
        ({"testRows": 20}, "test_rows", 20),
        ({"noise": 0}, "noise", 0.0),
        ({"noise": 100}, "noise", 100.0),
        ({"noise": 2}, "noise", 2.0),
        ({"seed": 0}, "seed", 0),
        ({"seed": 2**31 - 1}, "seed", 2**31 - 1),
    ],
)
def test_boundary_values_are_accepted_with_their_type(
    app: ModuleType, execution_input: dict[str, Any], attribute: str, expected: float
) -> None:
    value = getattr(app.parse_spec(execution_input), attribute)

    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    "execution",
    [
        pytest.param(..., id="missing"),
        pytest.param(None, id="null"),
        pytest.param("arn:aws:states:...", id="string"),
        pytest.param([], id="list"),
    ],
)
def test_missing_or_malformed_execution_raises_invalid_execution_input(
    app: ModuleType, bucket: str, execution: Any
) -> None:
    event = event_for({})
    if execution is ...:
        del event["execution"]
    else:
        event["execution"] = execution

    with pytest.raises(app.InvalidExecutionInput, match=r"'execution' must be an object") as raised:
        app.lambda_handler(event, None)

    assert raised.type is app.InvalidExecutionInput


@pytest.mark.parametrize("key", ["id", "name", "startTime"])
@pytest.mark.parametrize(
    "value", [pytest.param(..., id="missing"), None, "", 42, ["x"], {"value": "x"}, True]
)
def test_bad_execution_field_raises_invalid_execution_input_naming_it(
    app: ModuleType, bucket: str, s3_client: Any, key: str, value: Any
) -> None:
    event = event_for({})
    if value is ...:
        del event["execution"][key]
    else:
        event["execution"][key] = value

    with pytest.raises(app.InvalidExecutionInput) as raised:
        app.lambda_handler(event, None)

    assert raised.type is app.InvalidExecutionInput
    assert f"execution.{key}" in str(raised.value)
    assert all_keys(s3_client, bucket) == set()
