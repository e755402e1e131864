"""Generate Training Dataset: writes a Friedman #1 regression data set for one execution.

The state machine calls this first. It validates the execution input, derives every SageMaker job name and
S3 location of the run from the execution (so concurrent executions never share a name or an object),
and streams the CSV files to S3 in the built-in XGBoost format: no header, label in the first column. The
test features are written without the label (batch transform input), the test labels beside them.

Above ``DATASET_SHARD_ROWS`` rows (the template's DatasetShardRows) one invocation would risk its timeout:
the first call then writes nothing and returns the plan (``dataset.shards``), and the state machine's Map
invokes the function once per shard (event ``{"shard": ..., "dataset": ...}``). Each shard writes
``part-NNNNN.csv`` files with its own seed, derived from the run's; the union of the shards is the data set.

Friedman #1: ``y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + N(0, noise^2)`` over ten features
uniform on [0, 1) (on a grid of millionths, written exactly), five of them informative. The RMSE of the
noiseless target on the test set is the floor any model can reach; it is returned as ``noiseFloorRmse``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
import re
import sys
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import boto3

# Lambda runs the handler with its code directory on sys.path; tests and the offline run load app.py by
# path, so the directory is added for them (the same modules either way).
if os.path.dirname(os.path.abspath(__file__)) not in sys.path:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import own_data
from execution_input import InvalidExecutionInput, validate_execution_input
from run_config import ConfigurationError, build_config, parse_config_input, parse_defaults

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

# Created at the first invocation and kept for the life of the execution environment, so importing this
# module costs no more than importing boto3 (bench: cold_start). Tests and the offline engine may set it.
s3: Any = None


def _s3_client() -> Any:
    global s3
    if s3 is None:
        s3 = boto3.client("s3")
    return s3


N_FEATURES = 10
# S3 multipart parts must be at least 5 MiB except the last one.
PART_SIZE = 8 * 1024 * 1024
RUNS_PREFIX = "runs"
# Rows (train + validation + test) one invocation writes at most; above it the data set is sharded.
# Sizing (README "Scale"): ~530,000-585,000 rows/s on one core of our machines (bench: datagen, S3 a sink);
# Lambda at 1024 MB has ~0.58 vCPU, so ~300,000 rows/s, or ~30,000 rows/s by the older, much slower
# measurement in template.yaml. 2,000,000 rows (~200 MB of CSV) then take 7-70 s of the 600 s timeout.
DEFAULT_SHARD_ROWS = 2_000_000
# Each shard is one Map iteration and one item of the state (256 KiB at most): a bound on both.
MAX_SHARDS = 400
_RUN_PREFIX = re.compile(rf"{RUNS_PREFIX}/[a-z0-9](-?[a-z0-9])*/")
MAX_TUNING_JOB_NAME = 32  # HyperParameterTuningJobName limit; training job names add 13 characters.


class DatasetWriteError(RuntimeError):
    """Writing the data set to S3 failed; the partial upload was aborted."""


class InvalidShardRequest(ValueError):
    """A shard event (from the state machine's Map) does not describe a shard of this run's data set."""


@dataclass(frozen=True)
class DatasetSpec:
    train_rows: int = 10_000
    validation_rows: int = 2_000
    test_rows: int = 2_000
    noise: float = 1.0
    seed: int = 42


# key of the execution input -> (attribute, type); bounds are in schema/execution-input.schema.json.
_SPEC_FIELDS: dict[str, tuple[str, type]] = {
    "trainRows": ("train_rows", int),
    "validationRows": ("validation_rows", int),
    "testRows": ("test_rows", int),
    "noise": ("noise", float),
    "seed": ("seed", int),
}


@dataclass(frozen=True)
class Execution:
    arn: str
    name: str
    start_time: str


def parse_spec(execution_input: Any) -> DatasetSpec:
    """The generated data set the input asks for: validated against the schema, absent keys take defaults."""
    values = validate_execution_input(execution_input)
    return DatasetSpec(
        **{attr: kind(values[key]) for key, (attr, kind) in _SPEC_FIELDS.items() if key in values}
    )


def parse_execution(execution: Any) -> Execution:
    if not isinstance(execution, Mapping):
        raise InvalidExecutionInput(
            "the event's 'execution' must be an object with id, name and startTime "
            "(the state machine passes $$.Execution)"
        )
    fields = {}
    for key in ("id", "name", "startTime"):
        value = execution.get(key)
        if not isinstance(value, str) or not value:
            raise InvalidExecutionInput(f"the event's execution.{key} must be a non-empty string")
        fields[key] = value
    return Execution(arn=fields["id"], name=fields["name"], start_time=fields["startTime"])


def run_name(execution: Execution) -> str:
    """A name unique to the execution, valid as a tuning job name (32 characters at most).

    A readable slug of the execution name, plus a hash of the execution ARN and start time: ARNs are
    unique per state machine, and the start time keeps a name reused months later from colliding with
    jobs SageMaker still remembers. Lower case, because SageMaker ARNs carry names in lower case.
    """
    digest = hashlib.sha256(f"{execution.arn}|{execution.start_time}".encode()).hexdigest()[:12]
    slug = re.sub(r"[^a-z0-9]+", "-", execution.name.lower()).strip("-")
    slug = slug[: MAX_TUNING_JOB_NAME - len(digest) - 1].strip("-")
    return f"{slug}-{digest}" if slug else f"run-{digest}"


# The features are uniform on a grid of millionths, written "0.dddddd" (six decimals, as "%.6f" writes a
# number of [0, 1)): the file holds exactly the features the target is computed from. A batch of rows is
# made with as little Python per value as possible (bench: datagen), because Python's per-value work is
# what limits the rows a second:
# - the five informative features are drawn as integer millionths (the target needs their values) and
#   turned into digits by one %-format of the batch;
# - the five uninformative ones are random digits straight away: random bytes from the seeded generator,
#   those under 250 kept and mapped to their last decimal digit (uniform: 0-249 holds each digit 25
#   times), all by bytes.translate in C;
# - the digits are laid into a template of the batch's lines by strided slice assignment, one column of
#   digits at a time (60 assignments a batch, none a row).
BATCH_ROWS = 1_000
INFORMATIVE_FEATURES = 5
DECIMALS = 6
FEATURE_SCALE = 10**DECIMALS
_FIELD_WIDTH = DECIMALS + 3  # "0.dddddd" and its comma (the newline, for the last field)
_LINE_WIDTH = N_FEATURES * _FIELD_WIDTH
_FEATURE_LINES = ((",".join(["0." + "0" * DECIMALS] * N_FEATURES) + "\n") * BATCH_ROWS).encode("ascii")
_DIGIT_OF_BYTE = bytes((ord("0") + b % 10) if b < 250 else 0 for b in range(256))
_BIASED_BYTES = bytes(range(250, 256))
_INFORMATIVE_DIGITS_FMT = "%0" + str(DECIMALS) + "d"
_LABEL_LINE_FMT = b"%.6f\n"
_LABELLED_LINE_FMT = b"%.6f,%s\n"


def random_digits(rng: random.Random, count: int) -> bytearray:
    """``count`` uniform random ASCII decimal digits from ``rng`` (deterministic for its state)."""
    digits = bytearray()
    while len(digits) < count:
        missing = count - len(digits)
        # 6 bytes in 256 are dropped: ask for about 3% more, so one round is nearly always enough.
        digits += rng.randbytes(missing + missing // 32 + 16).translate(_DIGIT_OF_BYTE, _BIASED_BYTES)
    del digits[count:]
    return digits


def friedman1_batch(count: int, rng: random.Random, noise: float) -> tuple[list[float], bytearray, float]:
    """``count`` rows (at most ``BATCH_ROWS``): the noisy labels, the features as CSV lines, and the sum of
    the squared noise ((label - noiseless target) ** 2, for the noise floor).

    The noise is N(0, noise**2), drawn by the Box-Muller transform as ``random.gauss`` draws it, two rows
    at a time, without its call per row.
    """
    if not 0 <= count <= BATCH_ROWS:
        raise ValueError(f"a batch is 0 to {BATCH_ROWS} rows, not {count}")
    u, sin = rng.random, math.sin
    if noise > 0:
        cos, log, sqrt, tau = math.cos, math.log, math.sqrt, 2.0 * math.pi
        zs: list[float] = []
        for _ in range((count + 1) // 2):
            radius = noise * sqrt(-2.0 * log(1.0 - u()))
            angle = tau * u()
            zs += (radius * cos(angle), radius * sin(angle))
        del zs[count:]
    else:
        zs = [0.0] * count
    scale = FEATURE_SCALE
    pi_scaled = math.pi / scale**2
    labels: list[float] = []
    informative: list[int] = []
    add_label, add_features = labels.append, informative.extend
    for z in zs:
        # The draws written out: measured faster than a comprehension.
        k0, k1, k2, k3, k4 = (
            int(u() * scale),
            int(u() * scale),
            int(u() * scale),
            int(u() * scale),
            int(u() * scale),
        )
        centred = k2 / scale - 0.5
        add_label(
            10.0 * sin(pi_scaled * k0 * k1) + 20.0 * centred * centred + (10.0 * k3 + 5.0 * k4) / scale + z
        )
        add_features((k0, k1, k2, k3, k4))
    columns = (
        ((_INFORMATIVE_DIGITS_FMT * len(informative)) % tuple(informative)).encode("ascii"),
        random_digits(rng, (N_FEATURES - INFORMATIVE_FEATURES) * DECIMALS * count),
    )
    lines = bytearray(_FEATURE_LINES[: count * _LINE_WIDTH])
    row_digits = INFORMATIVE_FEATURES * DECIMALS  # per row, in each of the two digit strings
    for feature in range(N_FEATURES):
        digits = columns[feature >= INFORMATIVE_FEATURES]
        first = (feature % INFORMATIVE_FEATURES) * DECIMALS
        for place in range(DECIMALS):
            lines[feature * _FIELD_WIDTH + 2 + place :: _LINE_WIDTH] = digits[first + place :: row_digits]
    return labels, lines, math.sumprod(zs, zs)


def labelled_lines(labels: list[float], feature_lines: bytes | bytearray) -> bytes:
    """The rows as the training files hold them: label first, then the features (``friedman1_batch``)."""
    lines = feature_lines.split(b"\n")
    lines.pop()  # after the last newline
    values: list[Any] = [None] * (2 * len(labels))
    values[::2], values[1::2] = labels, lines
    return (_LABELLED_LINE_FMT * len(labels)) % tuple(values)


class S3StreamWriter:
    """Writes an object in parts so memory stays flat; aborts the multipart upload on any failure.

    Every part but the last is exactly ``part_size`` bytes; objects smaller than one part go up with a
    single PutObject. ``write`` takes ASCII text or bytes-like data. A part is sent by a background thread
    while the caller writes the next one; before the next part is joined, the one in flight is waited for,
    so the writer holds at most two parts (the one being sent and the one being filled) and a chunk. A part's
    failure is raised by the ``write`` that completes the next part, or by ``close``; ``abort``, which
    cleans up after a failure, waits for it and lets it go.
    """

    def __init__(self, client: Any, bucket: str, key: str, part_size: int | None = None) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.part_size = PART_SIZE if part_size is None else part_size
        # What is written but not sent yet, as written: a part is joined once, when it is full (no growing
        # buffer to copy from); a chunk split between two parts leaves a view of its rest, not a copy.
        self._chunks: deque[bytes | memoryview] = deque()
        self._buffered = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._sender: ThreadPoolExecutor | None = None
        self._in_flight: Future[dict[str, Any]] | None = None
        self._closed = False
        self.bytes_written = 0
        self.completed = False  # the object exists in S3

    def write(self, data: str | bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise ValueError(f"s3://{self.bucket}/{self.key}: write after close or abort")
        if isinstance(data, str):
            chunk = data.encode("ascii")
        elif isinstance(data, (bytes, bytearray, memoryview)):
            chunk = bytes(data)  # a copy: the caller may change a bytearray afterwards
        else:
            raise TypeError(f"write takes str or bytes-like data, not {type(data).__name__}")
        if chunk:
            self._chunks.append(chunk)
            self._buffered += len(chunk)
        while self._buffered >= self.part_size:
            self._wait_for_part()  # before joining the next part: two parts at most in memory
            self._upload_part(self._take(self.part_size))

    def _take(self, size: int) -> bytes:
        """The first ``size`` bytes written and not sent yet, joined."""
        taken: list[bytes | memoryview] = []
        missing = size
        while missing:
            chunk = self._chunks.popleft()
            if len(chunk) > missing:
                rest = chunk if isinstance(chunk, memoryview) else memoryview(chunk)
                self._chunks.appendleft(rest[missing:])
                chunk = rest[:missing]
            taken.append(chunk)
            missing -= len(chunk)
        self._buffered -= size
        return b"".join(taken)

    def _upload_part(self, body: bytes) -> None:
        self._wait_for_part()
        if self._upload_id is None:
            upload = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType="text/csv"
            )
            self._upload_id = upload["UploadId"]
        if self._sender is None:
            self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-part")
        self._in_flight = self._sender.submit(self._send_part, self._upload_id, len(self._parts) + 1, body)

    def _send_part(self, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        part = self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": part["ETag"], "Size": len(body)}

    def _wait_for_part(self) -> None:
        """Waits for the part in flight; raises its error, or records it."""
        if self._in_flight is None:
            return
        in_flight, self._in_flight = self._in_flight, None
        part = in_flight.result()
        self.bytes_written += part.pop("Size")
        self._parts.append(part)

    def _stop_sender(self) -> None:
        if self._sender is not None:
            self._sender.shutdown(wait=True)
            self._sender = None

    def close(self) -> None:
        if self.completed:
            return
        self._closed = True
        if self._upload_id is None:
            body = self._take(self._buffered)
            self.client.put_object(Bucket=self.bucket, Key=self.key, Body=body, ContentType="text/csv")
            self.bytes_written += len(body)
            self.completed = True
            return
        if self._buffered:
            self._wait_for_part()
            self._upload_part(self._take(self._buffered))
        self._wait_for_part()
        self._stop_sender()
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
        )
        self.completed = True

    def abort(self) -> None:
        self._closed = True
        # The part in flight is let finish (its error, if any, is not the one to report), then the upload is
        # aborted, which discards its parts. A completed upload cannot be aborted any more (NoSuchUpload):
        # its object is deleted instead.
        if self._in_flight is not None:
            self._in_flight.exception()
            self._in_flight = None
        self._stop_sender()
        if self._upload_id is not None and not self.completed:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
            self._upload_id = None

    def __enter__(self) -> S3StreamWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            try:
                self.close()
            except BaseException:
                self.abort_quietly()
                raise
        else:
            self.abort_quietly()

    def abort_quietly(self) -> None:
        """Aborts; a failure to abort is logged, because the error that led here is the one to report."""
        try:
            self.abort()
        except Exception:
            logger.exception("could not abort the multipart upload of s3://%s/%s", self.bucket, self.key)

    def discard(self) -> None:
        """After a failure elsewhere: aborts the upload, or deletes the object if it was completed (half a
        data set is worse than none). Failures are logged: the error that led here is the one to report."""
        self.abort_quietly()
        if self.completed:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self.key)
            except Exception:
                logger.exception("could not delete s3://%s/%s", self.bucket, self.key)


def write_split(
    client: Any,
    bucket: str,
    key: str,
    rows: int,
    rng: random.Random,
    noise: float,
    *,
    labels_key: str | None = None,
) -> float:
    """Streams ``rows`` generated rows to ``key``; returns the sum of their squared noise.

    With ``labels_key`` the file at ``key`` gets the features alone (batch transform input) and the labels
    go to ``labels_key``. Rows are made ``BATCH_ROWS`` at a time (``friedman1_batch``). If any
    write fails, every upload this call started is aborted: no partial object is left.
    """
    squared_noise = 0.0
    writers = [S3StreamWriter(client, bucket, key)]
    if labels_key:
        writers.append(S3StreamWriter(client, bucket, labels_key))
    try:
        for start in range(0, rows, BATCH_ROWS):
            count = min(BATCH_ROWS, rows - start)
            labels, feature_lines, batch_squared_noise = friedman1_batch(count, rng, noise)
            squared_noise += batch_squared_noise
            if labels_key:
                writers[0].write(feature_lines)
                writers[1].write((_LABEL_LINE_FMT * count) % tuple(labels))
            else:
                writers[0].write(labelled_lines(labels, feature_lines))
        for writer in writers:
            writer.close()
    except Exception as e:
        for writer in writers:  # a completed sibling object would be half a data set: it goes too
            writer.discard()
        raise DatasetWriteError(f"writing s3://{bucket}/{key} failed: {e}") from e
    return squared_noise


def dataset_shard_rows() -> int:
    """Rows one invocation writes at most (env ``DATASET_SHARD_ROWS``, set from DatasetShardRows)."""
    raw = os.environ.get("DATASET_SHARD_ROWS")
    if raw is None or raw == "":
        return DEFAULT_SHARD_ROWS
    try:
        rows = int(raw)
    except ValueError:
        rows = 0
    if rows < 1:
        raise ConfigurationError(f"DATASET_SHARD_ROWS must be a whole number of at least 1, got {raw!r}")
    return rows


def shard_seed(seed: int, index: int) -> int:
    """The seed of shard ``index``: derived from the run's seed, so a run is reproducible shard by shard."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def plan_shards(spec: DatasetSpec, shard_rows: int, min_shards: int = 1) -> list[dict[str, int]]:
    """The shards of a data set larger than ``shard_rows`` rows in all; [] when one invocation writes it.

    Every split is spread evenly over the shards (the first ones take the remainder), so each shard holds
    at most about ``shard_rows`` rows. ``min_shards``: the training instance count, so that ShardedByS3Key
    gives every instance a training file (an instance without one is left out of training, but billed).
    """
    total = spec.train_rows + spec.validation_rows + spec.test_rows
    count = max(-(-total // shard_rows), min(min_shards, spec.train_rows))
    if count <= 1:
        return []
    if count > MAX_SHARDS:
        raise InvalidExecutionInput(
            f"trainRows + validationRows + testRows = {total} would need {count} shards of "
            f"{shard_rows} rows (DatasetShardRows); at most {MAX_SHARDS}: ask for fewer rows or deploy with "
            "a larger DatasetShardRows"
        )

    def share(rows: int, index: int) -> int:
        return rows // count + (1 if index < rows % count else 0)

    return [
        {
            "index": index,
            "trainRows": share(spec.train_rows, index),
            "validationRows": share(spec.validation_rows, index),
            "testRows": share(spec.test_rows, index),
            "seed": shard_seed(spec.seed, index),
        }
        for index in range(count)
    ]


def write_splits(
    client: Any,
    bucket: str,
    keys: Mapping[str, str],
    rows: Mapping[str, int],
    rng: random.Random,
    noise: float,
) -> float:
    """Writes train, validation and test (features, and labels apart) in that order from one generator.

    A split of no rows writes no file. Returns the sum of squared noise over the test rows (for the noise
    floor). On failure every object written here is removed: nothing partial is left.
    """
    squared_error = 0.0
    written: list[str] = []
    try:
        for split in ("train", "validation"):
            if rows[split]:
                write_split(client, bucket, keys[split], rows[split], rng, noise)
                written.append(keys[split])
        if rows["test"]:
            squared_error = write_split(
                client, bucket, keys["test"], rows["test"], rng, noise, labels_key=keys["testLabels"]
            )
    except DatasetWriteError:
        # Earlier splits are complete objects but an incomplete data set: remove them too.
        for key in written:
            try:
                client.delete_object(Bucket=bucket, Key=key)
            except Exception:
                logger.exception("could not delete s3://%s/%s", bucket, key)
        raise
    return squared_error


def generate(
    client: Any,
    bucket: str,
    execution: Execution,
    spec: DatasetSpec,
    shard_rows: int | None = None,
    min_shards: int = 1,
) -> dict[str, Any]:
    """Writes the three splits and returns the run's names and locations.

    Above ``shard_rows`` rows (default: ``dataset_shard_rows()``), or when ``min_shards`` (the training
    instance count) is above 1, nothing is written: the result names the same locations and carries
    ``shards``, the plan the state machine's Map runs with ``generate_shard``.
    """
    name = run_name(execution)
    prefix = f"{RUNS_PREFIX}/{name}"
    base = f"s3://{bucket}/{prefix}"
    shards = plan_shards(spec, dataset_shard_rows() if shard_rows is None else shard_rows, min_shards)
    dataset: dict[str, Any] = {
        "runName": name,
        "bucket": bucket,
        "prefix": f"{prefix}/",
        "trainUri": f"{base}/data/train/",
        "validationUri": f"{base}/data/validation/",
        "testUri": f"{base}/data/test/",
        # A prefix, like testUri: the labels of <x>.csv are test-labels/<x>.csv, its predictions <x>.csv.out.
        "testLabelsUri": f"{base}/data/test-labels/",
        "modelOutputUri": f"{base}/models/",
        "transformOutputUri": f"{base}/predictions/",
        "tuningJobName": name,
        "transformJobName": name,
        "rows": {"train": spec.train_rows, "validation": spec.validation_rows, "test": spec.test_rows},
        "features": N_FEATURES,
        "noise": spec.noise,
        "seed": spec.seed,
    }
    if shards:
        # The shards' results carry their noise statistics; Evaluate Model pools them.
        return {**dataset, "noiseFloorRmse": None, "shards": shards}
    keys = {
        "train": f"{prefix}/data/train/train.csv",
        "validation": f"{prefix}/data/validation/validation.csv",
        "test": f"{prefix}/data/test/test.csv",
        "testLabels": f"{prefix}/data/test-labels/test.csv",
    }
    rng = random.Random(spec.seed)  # reproducible synthetic data, not a secret  # noqa: S311  # nosec B311
    rows = {"train": spec.train_rows, "validation": spec.validation_rows, "test": spec.test_rows}
    squared_error = write_splits(client, bucket, keys, rows, rng, spec.noise)
    return {**dataset, "noiseFloorRmse": round(math.sqrt(squared_error / spec.test_rows), 6)}


def _whole(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidShardRequest(f"{where} must be a whole number from {low} to {high}, got {value!r}")
    return value


def generate_shard(client: Any, bucket: str, shard: Any, dataset: Any) -> dict[str, Any]:
    """Writes one shard (``part-NNNNN.csv`` in each split) of the data set ``dataset`` plans.

    Deterministic: the same shard writes the same bytes, so a retried invocation overwrites with equal
    content. Returns the shard's row counts and its test noise statistics.
    """
    if not isinstance(shard, Mapping) or not isinstance(dataset, Mapping):
        raise InvalidShardRequest("the event must hold 'shard' and 'dataset' objects (the Map's Parameters)")
    index = _whole(shard.get("index"), "shard.index", 0, MAX_SHARDS - 1)
    rows = {
        split: _whole(shard.get(f"{split}Rows"), f"shard.{split}Rows", 0, 100_000_000)
        for split in ("train", "validation", "test")
    }
    seed = _whole(shard.get("seed"), "shard.seed", 0, 2**31 - 1)
    prefix = dataset.get("prefix")
    if not isinstance(prefix, str) or not _RUN_PREFIX.fullmatch(prefix):
        raise InvalidShardRequest(f"dataset.prefix must be {RUNS_PREFIX}/<run name>/, got {prefix!r}")
    if dataset.get("bucket") != bucket:
        raise InvalidShardRequest(f"dataset.bucket must be this function's bucket {bucket}")
    noise = dataset.get("noise")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise <= 100:
        raise InvalidShardRequest(f"dataset.noise must be a number from 0 to 100, got {noise!r}")
    part = f"part-{index:05d}.csv"
    keys = {
        "train": f"{prefix}data/train/{part}",
        "validation": f"{prefix}data/validation/{part}",
        "test": f"{prefix}data/test/{part}",
        "testLabels": f"{prefix}data/test-labels/{part}",
    }
    rng = random.Random(seed)  # reproducible synthetic data, not a secret  # noqa: S311  # nosec B311
    squared_error = write_splits(client, bucket, keys, rows, rng, float(noise))
    return {
        "index": index,
        "rows": rows,
        "testNoiseSumOfSquares": squared_error,
        "noiseFloorRmse": round(math.sqrt(squared_error / rows["test"]), 6) if rows["test"] else None,
    }


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Event: ``{"input": <execution input>, "defaults": {...}, "execution": {"id", "name", "startTime"}}``.

    ``defaults`` are the template's parameters as the state machine sends them (run_config.DEFAULT_KEYS).
    Returns ``{"input": <the input, data set defaults filled in>, "config": {...}, "dataset": {...}}``: the
    state machine keeps it as its state.
    """
    if isinstance(event, Mapping) and "shard" in event:
        return _shard_handler(event)
    bucket = os.environ.get("BUCKET_NAME")
    if not bucket:
        raise ConfigurationError("BUCKET_NAME is not set: deploy the function with the template")
    if not isinstance(event, Mapping):
        raise InvalidExecutionInput(f"the event must be a JSON object, got {type(event).__name__}")
    execution_input = validate_execution_input(event.get("input"))
    overrides = parse_config_input(execution_input)
    defaults = parse_defaults(event.get("defaults"))
    execution = parse_execution(event.get("execution"))
    # Built before any data is read or written: a bad combination of keys costs nothing.
    config = build_config(defaults, overrides, f"s3://{bucket}/{RUNS_PREFIX}/{run_name(execution)}/")
    if "data" in execution_input:
        if config["training"]["instanceCount"] > 1:
            raise InvalidExecutionInput(
                f"trainingInstanceCount is {config['training']['instanceCount']}, but your own training data "
                "is one file and instances share the training files by S3 key (ShardedByS3Key): the other "
                "instances would get no data. Use trainingInstanceCount 1 with your own data."
            )
        if overrides.get("qualityGate") is True and config["qualityGate"]["maxRmse"] is None:
            raise InvalidExecutionInput(
                "qualityGate is true, but your own data has no noise floor to derive a threshold from: set "
                "maxTestRmse in the execution input (or the MaxTestRmse template parameter)"
            )
        dataset = prepare_own_data(bucket, execution, execution_input["data"])
        logger.info("own data checked", extra={"dataset": dataset, "config": config})
        return {"input": {**execution_input, **overrides}, "config": config, "dataset": dataset}
    spec = parse_spec(execution_input)
    logger.info("generating data set", extra={"spec": asdict(spec), "execution": execution.arn})
    # At least one training file per training instance: ShardedByS3Key gives instance i every n-th file.
    written = generate(_s3_client(), bucket, execution, spec, min_shards=config["training"]["instanceCount"])
    dataset = {**written, "source": "generated"}
    logger.info("data set written", extra={"dataset": dataset, "config": config})
    return {
        "input": {
            **execution_input,
            "trainRows": spec.train_rows,
            "validationRows": spec.validation_rows,
            "testRows": spec.test_rows,
            "noise": spec.noise,
            "seed": spec.seed,
            **overrides,
        },
        "config": config,
        "dataset": dataset,
    }


def prepare_own_data(bucket: str, execution: Execution, data: Mapping[str, str]) -> dict[str, Any]:
    """Checks the execution's own files and splits its test file (own_data); S3 failures are named."""
    allowed = own_data.external_buckets(os.environ.get("EXTERNAL_DATA_BUCKETS"))
    if len(allowed) > own_data.MAX_EXTERNAL_BUCKETS:
        most = own_data.MAX_EXTERNAL_BUCKETS
        raise ConfigurationError(
            f"{own_data.PARAMETER} lists {len(allowed)} buckets; the template grants read on the first "
            f"{most} only: list at most {most} and deploy again"
        )
    logger.info("checking your own data", extra={"data": dict(data), "externalDataBuckets": allowed})
    try:
        dataset = own_data.prepare(_s3_client(), bucket, run_name(execution), data, allowed, S3StreamWriter)
    except (
        own_data.OwnDataNotAllowed,
        own_data.OwnDataNotFound,
        own_data.OwnDataInvalid,
        own_data.OwnDataAccessDenied,
    ):
        raise
    except Exception as e:
        raise DatasetWriteError(
            f"preparing your own data (test file {data.get('testUri')}) failed: {e}"
        ) from e
    logger.info("your own data checked", extra={"dataset": dataset})
    return dataset


def _shard_handler(event: Mapping[str, Any]) -> dict[str, Any]:
    """Event ``{"shard": {index, trainRows, validationRows, testRows, seed}, "dataset": <the run's>}``."""
    bucket = os.environ.get("BUCKET_NAME")
    if not bucket:
        raise ConfigurationError("BUCKET_NAME is not set: deploy the function with the template")
    result = generate_shard(_s3_client(), bucket, event.get("shard"), event.get("dataset"))
    logger.info("data set shard written", extra={"shard": result})
    return result
