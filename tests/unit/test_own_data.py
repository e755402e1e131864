"""Bring your own data: the first state checks the three CSV objects and splits the test file (moto S3)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from types import ModuleType
from typing import Any

import dataset_writer
import pytest
import s3_stream
from botocore.exceptions import ClientError

from tests.conftest import BUCKET_NAME, load_event

EXTERNAL = "example-ml-datasets"  # the bucket events/execution_input_own_data.json names
OTHER_EXTERNAL = "another-team-data"
NOT_LISTED = "someone-elses-bucket"
# The template's defaults and the search space, as the state machine sends them.
SENT = {key: load_event("generate_dataset")[key] for key in ("defaults", "search")}
EXECUTION = {
    "id": "arn:aws:states:us-east-1:123456789012:execution:TuningStateMachine-AbC123:own-data-run",
    "name": "own-data-run",
    "startTime": "2026-11-28T12:00:00.000Z",
}
TRAIN = "0.5,1,2,3\n1.5,4,5,6\n2.5,7,8,9\n"
VALIDATION = "3.5,1,1,1\n4.5,2,2,2\n"
TEST = "10,0.1,0.2,0.3\n-11.25,0.4,0.5,0.6\n12e-1,0.7,0.8,0.9\n"


@pytest.fixture
def app(
    load_handler: Callable[[str], ModuleType], bucket: str, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    monkeypatch.setenv("EXTERNAL_DATA_BUCKETS", f"{EXTERNAL}, {OTHER_EXTERNAL}")
    return load_handler("generate_dataset")


@pytest.fixture
def external(s3_client: Any) -> str:
    for name in (EXTERNAL, OTHER_EXTERNAL, NOT_LISTED):
        s3_client.create_bucket(Bucket=name)
    return EXTERNAL


def put(s3_client: Any, uri: str, body: str | bytes) -> str:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    s3_client.put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)
    return uri


def put_files(
    s3_client: Any,
    base: str = f"s3://{EXTERNAL}/housing",
    train: str = TRAIN,
    validation: str = VALIDATION,
    test: str | bytes = TEST,
) -> dict[str, str]:
    return {
        "trainUri": put(s3_client, f"{base}/train.csv", train),
        "validationUri": put(s3_client, f"{base}/validation.csv", validation),
        "testUri": put(s3_client, f"{base}/test.csv", test),
    }


def run(app: ModuleType, data: dict[str, str], **extra: Any) -> dict[str, Any]:
    return app.lambda_handler({"input": {"data": data, **extra}, **SENT, "execution": EXECUTION}, None)


def read(s3_client: Any, uri: str) -> str:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def run_keys(s3_client: Any) -> set[str]:
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET_NAME, Prefix="runs/")
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def open_uploads(s3_client: Any) -> list[dict[str, Any]]:
    return s3_client.list_multipart_uploads(Bucket=BUCKET_NAME).get("Uploads", [])


# --- good files ---------------------------------------------------------------------------------------------


def test_good_files_are_read_in_place_and_the_test_file_is_split_into_features_and_labels(
    app: ModuleType, external: str, s3_client: Any
) -> None:
    data = put_files(s3_client)

    result = run(app, data, maxTrainingJobs=3)

    dataset = result["dataset"]
    assert result["input"] == {"data": data, "maxTrainingJobs": 3}
    assert dataset["trainUri"] == data["trainUri"]
    assert dataset["validationUri"] == data["validationUri"]
    prefix = f"runs/{dataset['runName']}/"
    assert dataset["prefix"] == prefix
    assert dataset["testUri"] == f"s3://{BUCKET_NAME}/{prefix}data/test/"
    assert dataset["testLabelsUri"] == f"s3://{BUCKET_NAME}/{prefix}data/test-labels/"
    assert read(s3_client, f"{dataset['testUri']}test.csv") == "0.1,0.2,0.3\n0.4,0.5,0.6\n0.7,0.8,0.9\n"
    assert read(s3_client, f"{dataset['testLabelsUri']}test.csv") == "10\n-11.25\n12e-1\n"
    assert run_keys(s3_client) == {f"{prefix}data/test/test.csv", f"{prefix}data/test-labels/test.csv"}
    assert dataset["source"] == "s3"
    assert dataset["sourceTestUri"] == data["testUri"]
    assert dataset["rows"] == {"train": None, "validation": None, "test": 3}
    assert dataset["features"] == 3
    assert (dataset["noise"], dataset["seed"], dataset["noiseFloorRmse"]) == (None, None, None)


def test_own_data_dataset_has_every_field_of_a_generated_one(
    app: ModuleType, external: str, s3_client: Any
) -> None:
    own = run(app, put_files(s3_client))["dataset"]
    generated = app.lambda_handler(
        {
            "input": {"trainRows": 100, "validationRows": 20, "testRows": 20},
            **SENT,
            "execution": EXECUTION,
        },
        None,
    )["dataset"]

    assert set(generated) <= set(own)
    assert generated["source"] == "generated"
    # The run's names come from the execution, whatever the data.
    for key in (
        "runName",
        "prefix",
        "modelOutputUri",
        "transformOutputUri",
        "tuningJobName",
        "transformJobName",
    ):
        assert own[key] == generated[key], key


def test_files_in_the_project_bucket_under_datasets_need_no_parameter(
    app: ModuleType, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EXTERNAL_DATA_BUCKETS")
    data = put_files(s3_client, base=f"s3://{BUCKET_NAME}/datasets/housing/v1")

    dataset = run(app, data)["dataset"]

    assert dataset["trainUri"] == data["trainUri"]
    assert dataset["rows"]["test"] == 3


def test_windows_line_ends_and_a_missing_final_newline_are_accepted(
    app: ModuleType, external: str, s3_client: Any
) -> None:
    data = put_files(s3_client, train=TRAIN.replace("\n", "\r\n"), test="1,2,3,4\r\n5,6,7,8")

    dataset = run(app, data)["dataset"]

    assert read(s3_client, f"{dataset['testUri']}test.csv") == "2,3,4\n6,7,8\n"
    assert read(s3_client, f"{dataset['testLabelsUri']}test.csv") == "1\n5\n"


def test_a_large_test_file_streams_through_multipart_uploads_byte_for_byte(
    app: ModuleType, external: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1)
    monkeypatch.setattr(s3_stream, "PART_SIZE", 16 * 1024)
    monkeypatch.setattr(app.own_data, "CHUNK_BYTES", 1000)  # lines cross chunk boundaries
    rows = [(f"{i * 0.5:.3f}", f"{i},{i * 2},{i % 7}") for i in range(5_000)]
    data = put_files(s3_client, test="".join(f"{label},{features}\n" for label, features in rows))

    dataset = run(app, data)["dataset"]

    assert dataset["rows"]["test"] == 5_000
    assert read(s3_client, f"{dataset['testUri']}test.csv") == "".join(f"{f}\n" for _, f in rows)
    assert read(s3_client, f"{dataset['testLabelsUri']}test.csv") == "".join(
        f"{label}\n" for label, _ in rows
    )


# --- where the data may be ----------------------------------------------------------------------------------


def test_bucket_not_listed_raises_own_data_not_allowed_naming_the_template_parameter(
    app: ModuleType, external: str, s3_client: Any
) -> None:
    data = put_files(s3_client, base=f"s3://{NOT_LISTED}/x")

    with pytest.raises(app.own_data.OwnDataNotAllowed) as raised:
        run(app, data)

    message = str(raised.value)
    assert message.startswith(
        f"data.trainUri s3://{NOT_LISTED}/x/train.csv: bucket {NOT_LISTED} is not readable"
    )
    assert "ExternalDataBuckets" in message
    assert f"(now: {EXTERNAL}, {OTHER_EXTERNAL})" in message
    assert f"s3://{BUCKET_NAME}/datasets/" in message
    assert run_keys(s3_client) == set()


def test_project_bucket_outside_datasets_raises_own_data_not_allowed(app: ModuleType, s3_client: Any) -> None:
    data = put_files(s3_client, base=f"s3://{BUCKET_NAME}/uploads")

    with pytest.raises(app.own_data.OwnDataNotAllowed, match=r"must be under datasets/"):
        run(app, data)


def test_with_no_external_bucket_listed_the_message_says_none(
    app: ModuleType, external: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXTERNAL_DATA_BUCKETS", "")
    with pytest.raises(app.own_data.OwnDataNotAllowed, match=r"\(now: none\)"):
        run(app, put_files(s3_client))


def test_more_external_buckets_than_the_template_grants_raises_configuration_error(
    app: ModuleType, external: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXTERNAL_DATA_BUCKETS", f"{EXTERNAL},b-1,b-2,b-3")

    with pytest.raises(app.ConfigurationError, match=r"ExternalDataBuckets lists 4 buckets; .* first 3 only"):
        run(app, put_files(s3_client))


# --- missing, unreadable, empty -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["trainUri", "validationUri", "testUri"])
def test_missing_object_raises_own_data_not_found_naming_it(
    app: ModuleType, external: str, s3_client: Any, role: str
) -> None:
    data = put_files(s3_client)
    data[role] = data[role].replace(".csv", "-missing.csv")

    with pytest.raises(app.own_data.OwnDataNotFound) as raised:
        run(app, data)

    assert str(raised.value) == f"data.{role} {data[role]}: no such object"
    assert run_keys(s3_client) == set()


def test_missing_bucket_raises_own_data_not_found(app: ModuleType, s3_client: Any) -> None:
    # OTHER_EXTERNAL is listed, but was never created.
    with pytest.raises(app.own_data.OwnDataNotFound, match=f"the bucket {OTHER_EXTERNAL} does not exist"):
        run(
            app,
            {role: f"s3://{OTHER_EXTERNAL}/{role}.csv" for role in ("trainUri", "validationUri", "testUri")},
        )


def test_access_denied_raises_own_data_access_denied_naming_what_to_check(
    app: ModuleType, external: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = put_files(s3_client)
    client = app._s3_client()

    def denied(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")

    monkeypatch.setattr(client, "get_object", denied)

    with pytest.raises(app.own_data.OwnDataAccessDenied) as raised:
        run(app, data)

    message = str(raised.value)
    assert message.startswith(f"data.trainUri {data['trainUri']}: S3 denied access (AccessDenied)")
    assert "bucket policy" in message and "KMS key" in message
    assert run_keys(s3_client) == set()


@pytest.mark.parametrize("role", ["trainUri", "validationUri", "testUri"])
def test_empty_object_raises_own_data_invalid(
    app: ModuleType, external: str, s3_client: Any, role: str
) -> None:
    data = put_files(s3_client)
    put(s3_client, data[role], "")

    with pytest.raises(app.own_data.OwnDataInvalid) as raised:
        run(app, data)

    assert str(raised.value) == f"data.{role} {data[role]}: the object is empty"


def test_another_object_under_the_same_key_prefix_raises_own_data_invalid(
    app: ModuleType, external: str, s3_client: Any
) -> None:
    data = put_files(s3_client)
    put(s3_client, data["trainUri"] + ".bak", TRAIN)

    with pytest.raises(app.own_data.OwnDataInvalid, match=r"train\.csv\.bak starts with the same key"):
        run(app, data)


# --- content ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "message"),
    [
        pytest.param(
            {"train": "1,2,3,4\n5,6,7\n"},
            "data.trainUri s3://example-ml-datasets/housing/train.csv line 2: 3 columns, line 1 has 4",
            id="ragged-train",
        ),
        pytest.param(
            {"validation": "1,2,3\n4,5,6\n"},
            "data.validationUri s3://example-ml-datasets/housing/validation.csv has 3 columns, data.trainUri "
            "s3://example-ml-datasets/housing/train.csv has 4",
            id="validation-columns-differ",
        ),
        pytest.param(
            {"test": "0.1,0.2,0.3\n0.4,0.5,0.6\n"},
            "data.testUri s3://example-ml-datasets/housing/test.csv line 1: 3 columns, the training file "
            "has 4: the test file needs the label first",
            id="test-without-label",
        ),
        pytest.param(
            {"train": "price,rooms,area,age\n1,2,3,4\n"},
            "line 1, column 1: 'price' is not a number (a header row? remove it",
            id="header",
        ),
        pytest.param(
            {"train": "1,2,3,4\n5,six,7,8\n"},
            "line 2, column 2: 'six' is not a number (every value must be a number or empty",
            id="non-numeric",
        ),
        pytest.param(
            {"train": ",2,3,4\n"}, "line 1, column 1: label '' is not a finite number", id="empty-label"
        ),
        pytest.param(
            {"train": "1,2,3,4\nnan,2,3,4\n"}, "line 2, column 1: label 'nan' is not", id="nan-label"
        ),
        pytest.param({"train": "1,2,inf,4\n"}, "line 1, column 3: 'inf' is infinite", id="infinite-value"),
        pytest.param(
            {"train": "1\n2\n", "validation": "1\n", "test": "1\n"},
            "line 1: 1 column; the built-in XGBoost wants the label first and at least one feature",
            id="one-column",
        ),
        pytest.param({"train": "1,2,3,4\n \n5,6,7,8\n"}, "line 2: 1 column", id="whitespace-line"),
        pytest.param(
            {"test": "1,2,3,4\nx,2,3,4\n"}, "test.csv line 2, column 1: 'x' is not a number", id="test-label"
        ),
    ],
)
def test_malformed_content_raises_own_data_invalid_naming_file_line_and_column(
    app: ModuleType, external: str, s3_client: Any, files: dict[str, str], message: str
) -> None:
    data = put_files(s3_client, **files)

    with pytest.raises(app.own_data.OwnDataInvalid) as raised:
        run(app, data)

    assert message in str(raised.value)
    assert run_keys(s3_client) == set()
    assert open_uploads(s3_client) == []


def test_compressed_file_raises_own_data_invalid(app: ModuleType, external: str, s3_client: Any) -> None:
    data = put_files(s3_client, test=gzip.compress(TEST.encode() * 50))

    with pytest.raises(app.own_data.OwnDataInvalid, match=r"is not UTF-8 text \(is it compressed"):
        run(app, data)


def test_ragged_row_deep_in_the_test_file_leaves_nothing_behind(
    app: ModuleType, external: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1)
    monkeypatch.setattr(s3_stream, "PART_SIZE", 4 * 1024)
    rows = ["1,2,3,4\n"] * 3_000 + ["1,2,3\n"]
    data = put_files(s3_client, test="".join(rows))

    with pytest.raises(app.own_data.OwnDataInvalid, match=r"test\.csv line 3001: 3 columns"):
        run(app, data)

    assert run_keys(s3_client) == set()
    assert open_uploads(s3_client) == []


def test_s3_failure_while_splitting_raises_dataset_write_error_and_leaves_nothing(
    app: ModuleType, external: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = put_files(s3_client)
    client = app._s3_client()
    put_object = client.put_object

    def fail_on_labels(**kwargs: Any) -> Any:
        if "/test-labels/" in kwargs["Key"]:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "internal error"}}, "PutObject")
        return put_object(**kwargs)

    monkeypatch.setattr(client, "put_object", fail_on_labels)

    with pytest.raises(dataset_writer.DatasetWriteError, match="internal error") as raised:
        run(app, data)

    assert data["testUri"] in str(raised.value)
    assert run_keys(s3_client) == set(), "the completed features object is removed too"


# --- the events/ file ---------------------------------------------------------------------------------------


def test_own_data_event_file_runs_on_files_at_its_uris(
    app: ModuleType, external: str, s3_client: Any
) -> None:
    execution_input = load_event("execution_input_own_data")
    for role, uri in execution_input["data"].items():
        put(s3_client, uri, {"trainUri": TRAIN, "validationUri": VALIDATION, "testUri": TEST}[role])

    result = app.lambda_handler({"input": execution_input, **SENT, "execution": EXECUTION}, None)

    assert result["input"] == execution_input
    assert result["dataset"]["trainUri"] == execution_input["data"]["trainUri"]


def test_an_explicit_quality_gate_without_a_threshold_is_refused_for_own_data_before_reading_it(
    app: ModuleType, external: str, s3_client: Any
) -> None:
    data = put_files(s3_client)

    with pytest.raises(
        app.InvalidExecutionInput, match="qualityGate is true, but your own data has no noise"
    ):
        run(app, data, qualityGate=True)
    assert run_keys(s3_client) == set()
    # With a threshold it runs, gated by it.
    assert run(app, data, qualityGate=True, maxTestRmse=2.5)["config"]["qualityGate"]["maxRmse"] == 2.5
