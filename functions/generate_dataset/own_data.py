"""Bring your own data: checks the three CSV objects an execution names, and splits the test file.

SageMaker reads the training and validation objects in place. The test file has the label first like the
others; batch transform wants features only, and the evaluation wants the labels, so the test file is
streamed once into ``<run prefix>data/test/test.csv`` (features) and ``<run prefix>data/test-labels/test.csv``
(labels), the same layout as generated data.

Where the objects may be: the project bucket under ``datasets/`` (the template grants read there), or a bucket
listed by the template parameter ``ExternalDataBuckets`` (passed as ``EXTERNAL_DATA_BUCKETS``; the template
grants the function and SageMaker read on those buckets only). Each check fails with a named error whose
message says what to do: OwnDataNotAllowed, OwnDataNotFound, OwnDataInvalid, OwnDataAccessDenied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import own_data_csv
from own_data_csv import OwnDataInvalid, S3Object
from s3_stream import S3StreamWriter

DATASETS_PREFIX = "datasets/"
PARAMETER = "ExternalDataBuckets"
MAX_EXTERNAL_BUCKETS = 3  # the template's read grants have three slots
# The test file is streamed in chunks and written a batch of lines at a time.
CHUNK_BYTES = 1024 * 1024
BATCH_LINES = 2_000
_ACCESS_DENIED = {"AccessDenied", "403", "AllAccessDisabled", "InvalidObjectState"}
_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}


class OwnDataNotAllowed(ValueError):
    """The URI names a bucket (or a part of the project bucket) the stack grants no read on."""


class OwnDataNotFound(ValueError):
    """The URI names no object."""


class OwnDataAccessDenied(RuntimeError):
    """S3 refused to read the object although the bucket is allowed (bucket policy, KMS key, ownership)."""


def external_buckets(value: str | None) -> list[str]:
    """The bucket names of EXTERNAL_DATA_BUCKETS (comma-separated; empty: none)."""
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def locate(role: str, uri: str, project_bucket: str, allowed: Sequence[str]) -> S3Object:
    """The object ``uri`` names, if the stack may read it; else OwnDataNotAllowed saying how to allow it."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    found = S3Object(role, bucket, key)
    if bucket == project_bucket:
        if not key.startswith(DATASETS_PREFIX):
            raise OwnDataNotAllowed(
                f"data.{role} {uri}: in the project bucket, your own data must be under {DATASETS_PREFIX} "
                f"(s3://{project_bucket}/{DATASETS_PREFIX}...): the stack grants read there only"
            )
        return found
    if bucket not in allowed:
        listed = ", ".join(allowed) if allowed else "none"
        raise OwnDataNotAllowed(
            f"data.{role} {uri}: bucket {bucket} is not readable by this stack. Upload the file to "
            f"s3://{project_bucket}/{DATASETS_PREFIX}, or add {bucket} to the template parameter {PARAMETER} "
            f"(now: {listed}) and deploy again"
        )
    return found


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str((response.get("Error") or {}).get("Code", ""))


def _s3_call(obj: S3Object, call: Callable[[], Any]) -> Any:
    """``call()``, with S3's access and existence errors turned into the named errors of this module."""
    try:
        return call()
    except Exception as e:
        code = _error_code(e)
        if code in _ACCESS_DENIED:
            raise OwnDataAccessDenied(
                f"data.{obj.role} {obj.uri}: S3 denied access ({code}). The stack's roles may read bucket "
                f"{obj.bucket}; check its bucket policy, the KMS key of the object and the object's owner"
            ) from e
        if code == "NoSuchBucket":
            raise OwnDataNotFound(f"data.{obj.role} {obj.uri}: the bucket {obj.bucket} does not exist") from e
        if code in _NOT_FOUND:
            raise OwnDataNotFound(f"data.{obj.role} {obj.uri}: no such object") from e
        raise


def check_object(client: Any, obj: S3Object) -> int:
    """The object's size, if it exists, is not empty and is the only object under its key as a prefix.

    SageMaker reads a channel as an S3 prefix: every object whose key starts with this key would be read too.
    """
    listing = _s3_call(obj, lambda: client.list_objects_v2(Bucket=obj.bucket, Prefix=obj.key, MaxKeys=2))
    contents = listing.get("Contents") or []
    exact = [item for item in contents if item["Key"] == obj.key]
    if not exact:
        raise OwnDataNotFound(f"data.{obj.role} {obj.uri}: no such object")
    others = [item["Key"] for item in contents if item["Key"] != obj.key]
    if others:
        raise OwnDataInvalid(
            f"data.{obj.role} {obj.uri}: s3://{obj.bucket}/{others[0]} starts with the same key, and "
            "SageMaker reads every object under a channel's URI: rename one of them"
        )
    size = int(exact[0].get("Size", 0))
    if size == 0:
        raise OwnDataInvalid(f"data.{obj.role} {obj.uri}: the object is empty")
    return size


def check_file(client: Any, obj: S3Object) -> int:
    """The lines of a training or validation file checked as the container reads them; the column count.

    See own_data_csv.check_body for what is checked, and how far.
    """
    response = _s3_call(obj, lambda: client.get_object(Bucket=obj.bucket, Key=obj.key))
    return own_data_csv.check_body(obj, response["Body"], CHUNK_BYTES)


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from complete
    if pending:
        yield pending


def split_test_file(client: Any, obj: S3Object, columns: int, features: Any, labels: Any) -> int:
    """Streams the test file into ``features`` (every column but the first) and ``labels`` (the first).

    ``features`` and ``labels`` are stream writers (``write(text)``); every row is checked: the same
    column count as the training data, a numeric label. Returns the row count.
    """
    response = _s3_call(obj, lambda: client.get_object(Bucket=obj.bucket, Key=obj.key))
    rows = 0
    feature_batch: list[str] = []
    label_batch: list[str] = []
    for number, raw in enumerate(_lines(response["Body"].iter_chunks(CHUNK_BYTES)), start=1):
        line = own_data_csv.decode(obj, raw).removesuffix("\r")
        found = own_data_csv.check_line(obj, number, line)
        if found is None:
            continue  # a blank line, which XGBoost skips: no record
        if found != columns:
            raise OwnDataInvalid(
                f"data.{obj.role} {obj.uri} line {number}: {found} columns, the training file has {columns}: "
                "the test file needs the label first and the same features"
            )
        label, _, rest = line.partition(",")
        label_batch.append(label)
        feature_batch.append(rest)
        rows += 1
        if len(feature_batch) >= BATCH_LINES:
            features.write("\n".join(feature_batch) + "\n")
            labels.write("\n".join(label_batch) + "\n")
            feature_batch, label_batch = [], []
    if feature_batch:
        features.write("\n".join(feature_batch) + "\n")
        labels.write("\n".join(label_batch) + "\n")
    if rows == 0:
        raise OwnDataInvalid(f"data.{obj.role} {obj.uri}: no rows")
    return rows


def check_and_locate(
    client: Any, data: Mapping[str, str], project_bucket: str, allowed: Sequence[str]
) -> tuple[dict[str, S3Object], int, dict[str, int]]:
    """Every check short of reading the whole test file: the objects by role, the column count, the sizes."""
    objects = {
        role: locate(role, data[role], project_bucket, allowed)
        for role in ("trainUri", "validationUri", "testUri")
    }
    sizes = {role: check_object(client, obj) for role, obj in objects.items()}
    train_columns = check_file(client, objects["trainUri"])
    validation_columns = check_file(client, objects["validationUri"])
    if validation_columns != train_columns:
        raise OwnDataInvalid(
            f"data.validationUri {objects['validationUri'].uri} has {validation_columns} columns, "
            f"data.trainUri {objects['trainUri'].uri} has {train_columns}: "
            "the files need the same columns, label first"
        )
    return objects, train_columns, sizes


def prepare(
    client: Any,
    project_bucket: str,
    run_name: str,
    data: Mapping[str, str],
    allowed: Sequence[str],
) -> dict[str, Any]:
    """Checks the three files, splits the test file under the run's prefix; returns the run's ``dataset``.

    If anything fails, the uploads are aborted and completed objects deleted: nothing partial is left.
    """
    objects, columns, sizes = check_and_locate(client, data, project_bucket, allowed)
    prefix = f"runs/{run_name}"
    base = f"s3://{project_bucket}/{prefix}"
    features_key = f"{prefix}/data/test/test.csv"
    labels_key = f"{prefix}/data/test-labels/test.csv"
    writers = [
        S3StreamWriter(client, project_bucket, features_key),
        S3StreamWriter(client, project_bucket, labels_key),
    ]
    try:
        rows = split_test_file(client, objects["testUri"], columns, writers[0], writers[1])
        for stream in writers:
            stream.close()
    except BaseException:
        for stream in writers:  # uploads aborted, completed objects deleted; a failed clean-up is logged
            stream.discard()
        raise
    return {
        "runName": run_name,
        "bucket": project_bucket,
        "prefix": f"{prefix}/",
        # SageMaker reads these two in place (check_object made sure each is alone under its key).
        "trainUri": objects["trainUri"].uri,
        "validationUri": objects["validationUri"].uri,
        "testUri": f"{base}/data/test/",
        # The labels prefix, as for generated data (the evaluation pairs test.csv.out with test.csv there).
        "testLabelsUri": f"{base}/data/test-labels/",
        "modelOutputUri": f"{base}/models/",
        "transformOutputUri": f"{base}/predictions/",
        "tuningJobName": run_name,
        "transformJobName": run_name,
        # Counting the training rows would mean reading the whole file: only the test rows are known.
        "rows": {"train": None, "validation": None, "test": rows},
        # What SageMaker downloads for training (the training volume is sized from it).
        "bytes": {"train": sizes["trainUri"], "validation": sizes["validationUri"]},
        "features": columns - 1,
        "noise": None,
        "seed": None,
        "noiseFloorRmse": None,
        "source": "s3",
        "sourceTestUri": objects["testUri"].uri,
    }
