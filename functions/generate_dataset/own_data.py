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

import itertools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from s3_stream import S3StreamWriter

DATASETS_PREFIX = "datasets/"
PARAMETER = "ExternalDataBuckets"
MAX_EXTERNAL_BUCKETS = 3  # the template's read grants have three slots
MIN_COLUMNS = 2
# A field as XGBoost's CSV reader takes it: a number (spaces around it allowed), or a missing value (an empty
# field or nan); an infinite value fails the container's training.
_NUMBER_TEXT = r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*"
_MISSING_TEXT = r"\s*(?:[nN][aA][nN])?\s*"
_NUMBER = re.compile(_NUMBER_TEXT)
_MISSING = re.compile(_MISSING_TEXT)
_INFINITY = re.compile(r"\s*[-+]?[iI][nN][fF](?:[iI][nN][iI][tT][yY])?\s*")
_FEATURES = re.compile(rf"(?:{_NUMBER_TEXT}|{_MISSING_TEXT})(?:,(?:{_NUMBER_TEXT}|{_MISSING_TEXT}))*")
# Training and validation files are checked in full up to this size each: the check ran at about 13 MB/s
# of CSV on a busy 2-core machine, so two such files take under three minutes of the function's ten.
# Beyond it, the training job reports a fault.
FULL_CHECK_BYTES = 1024**3
# The test file is streamed in chunks and written a batch of lines at a time.
CHUNK_BYTES = 1024 * 1024
BATCH_LINES = 2_000
_ACCESS_DENIED = {"AccessDenied", "403", "AllAccessDisabled", "InvalidObjectState"}
_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}


class OwnDataNotAllowed(ValueError):
    """The URI names a bucket (or a part of the project bucket) the stack grants no read on."""


class OwnDataNotFound(ValueError):
    """The URI names no object."""


class OwnDataInvalid(ValueError):
    """The object is not a CSV file the built-in XGBoost can train on (empty, header, ragged, non-numeric)."""


class OwnDataAccessDenied(RuntimeError):
    """S3 refused to read the object although the bucket is allowed (bucket policy, KMS key, ownership)."""


@dataclass(frozen=True)
class S3Object:
    role: str  # trainUri, validationUri or testUri: named in every message
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


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


def _not_a_number(obj: S3Object, line_number: int, column: int, text: str) -> OwnDataInvalid:
    what = (
        "a header row? remove it"
        if line_number == 1
        else "every value must be a number or empty; XGBoost would silently read text as a missing value"
    )
    return OwnDataInvalid(
        f"data.{obj.role} {obj.uri} line {line_number}, column {column}: {text[:40]!r} is not a number "
        f"({what}; no header, label first)"
    )


def check_line(obj: S3Object, line_number: int, line: str) -> int | None:
    """The column count of one line as XGBoost's CSV reader reads it, or None for a blank line (skipped).

    Accepted as the container accepts them: an empty field or ``nan`` is a missing value. Refused: what
    fails the container's training (a NaN, infinite or empty label; an infinite value; a line without a
    comma) and what XGBoost would silently read as something else (text, such as a header row).
    """
    if not line:
        return None
    columns = line.count(",") + 1
    if columns < MIN_COLUMNS:
        raise OwnDataInvalid(
            f"data.{obj.role} {obj.uri} line {line_number}: {columns} column; the built-in XGBoost wants "
            "the label first and at least one feature, comma-separated"
        )
    label, _, features = line.partition(",")
    if not _NUMBER.fullmatch(label):
        if _MISSING.fullmatch(label) or _INFINITY.fullmatch(label):
            raise OwnDataInvalid(
                f"data.{obj.role} {obj.uri} line {line_number}, column 1: label {label.strip()[:40]!r} is "
                "not a finite number (every row needs a label; the container fails the training on a "
                "missing, NaN or infinite label)"
            )
        raise _not_a_number(obj, line_number, 1, label)
    if not _FEATURES.fullmatch(features):
        for column, text in enumerate(features.split(","), start=2):
            if _INFINITY.fullmatch(text):
                raise OwnDataInvalid(
                    f"data.{obj.role} {obj.uri} line {line_number}, column {column}: {text.strip()!r} is "
                    "infinite (the container's XGBoost refuses infinite values; leave the field empty for a "
                    "missing value)"
                )
            if not (_NUMBER.fullmatch(text) or _MISSING.fullmatch(text)):
                raise _not_a_number(obj, line_number, column, text)
    return columns


def _block_is_clean(block: bytes, columns: int) -> bool:
    """Whether every line of ``block`` (whole lines) has ``columns`` fields, all of them finite numbers.

    The common case, checked with C-speed bytes and float operations. False sends the block through
    check_line, line by line: blank lines, missing values and faults all take that way.
    """
    lines = block.split(b"\n")[:-1]
    if set(map(bytes.count, lines, itertools.repeat(b","))) != {columns - 1}:
        return False
    if b"_" in block:  # float() reads 1_000; XGBoost would not
        return False
    try:
        return math.isfinite(sum(map(float, block.replace(b"\n", b",").split(b",")[:-1])))
    except ValueError:
        return False


def check_file(client: Any, obj: S3Object) -> int:
    """The lines of a training or validation file checked as the container reads them; the column count.

    The first FULL_CHECK_BYTES are checked (all of any file the function can read in its time); a fault
    further in is left to the training job, whose failure reason names it.
    """
    response = _s3_call(obj, lambda: client.get_object(Bucket=obj.bucket, Key=obj.key))
    columns, first, number, pending, read = 0, 0, 0, b"", 0
    chunks = response["Body"].iter_chunks(CHUNK_BYTES)
    for chunk in itertools.chain(chunks, [None]):
        if chunk is None:
            block, pending = (pending + b"\n" if pending else b""), b""
        else:
            pending += chunk
            cut = pending.rfind(b"\n") + 1
            block, pending = pending[:cut], pending[cut:]
        if not block:
            continue
        if not (columns and _block_is_clean(block, columns)):
            text = _decode(obj, block)
            for offset, line in enumerate(text.split("\n")[:-1], start=1):
                found = check_line(obj, number + offset, line.removesuffix("\r"))
                if found is None:
                    continue
                if not columns:
                    columns, first = found, number + offset
                if found != columns:
                    raise OwnDataInvalid(
                        f"data.{obj.role} {obj.uri} line {number + offset}: {found} columns, line {first} "
                        f"has {columns}: every row needs the same columns"
                    )
        number += block.count(b"\n")
        read += len(block)
        if read >= FULL_CHECK_BYTES:
            response["Body"].close()
            break
    if not columns:
        raise OwnDataInvalid(f"data.{obj.role} {obj.uri}: no rows")
    return columns


def _decode(obj: S3Object, body: bytes, *, cut: bool = False) -> str:
    """``body`` as text; ``cut``: it is a sample that may end inside a multi-byte character."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        if cut and e.start >= len(body) - 3:
            return body[: e.start].decode("utf-8")
        raise OwnDataInvalid(
            f"data.{obj.role} {obj.uri}: byte {e.start} is not UTF-8 text (is it compressed or binary? "
            "the built-in XGBoost reads plain CSV here)"
        ) from e


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
        line = _decode(obj, raw).removesuffix("\r")
        found = check_line(obj, number, line)
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
