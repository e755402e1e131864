"""The generated data set: its plan (one invocation, or shards for the state machine's Map) and its files.

Every split is streamed to S3 in the built-in XGBoost format (``friedman``): train and validation with the
label first, the test features without it (batch transform input) and the test labels beside them. Above
``DATASET_SHARD_ROWS`` rows (the template's DatasetShardRows) one invocation would risk its timeout: the
first call then writes nothing and returns the plan (``dataset.shards``), and the Map invokes the function
once per shard. Each shard writes ``part-NNNNN.csv`` files with its own seed, derived from the run's; the
union of the shards is the data set.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from execution_input import InvalidExecutionInput, validate_execution_input
from friedman import BATCH_ROWS, N_FEATURES, friedman1_batch, label_lines, labelled_lines
from naming import RUN_PREFIX, RUNS_PREFIX, Execution, run_name
from run_config import ConfigurationError
from s3_stream import S3StreamWriter

logger = logging.getLogger(__name__)

# Rows (train + validation + test) one invocation writes at most; above it the data set is sharded. The
# sizing (rows a second on Lambda's share of a CPU against the function's timeout) is in the README, "Scale".
DEFAULT_SHARD_ROWS = 2_000_000
# Each shard is one Map iteration and one item of the state (256 KiB at most): a bound on both.
MAX_SHARDS = 400


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

    @property
    def rows(self) -> dict[str, int]:
        return {"train": self.train_rows, "validation": self.validation_rows, "test": self.test_rows}


# key of the execution input -> (attribute, type); bounds are in schema/execution-input.schema.json.
_SPEC_FIELDS: dict[str, tuple[str, type]] = {
    "trainRows": ("train_rows", int),
    "validationRows": ("validation_rows", int),
    "testRows": ("test_rows", int),
    "noise": ("noise", float),
    "seed": ("seed", int),
}


def parse_spec(execution_input: Any) -> DatasetSpec:
    """The generated data set the input asks for: validated against the schema, absent keys take defaults."""
    values = validate_execution_input(execution_input)
    return DatasetSpec(
        **{attr: kind(values[key]) for key, (attr, kind) in _SPEC_FIELDS.items() if key in values}
    )


def spec_input(spec: DatasetSpec) -> dict[str, Any]:
    """The spec as execution input keys (the input with its data set defaults filled in)."""
    return {key: getattr(spec, attr) for key, (attr, _) in _SPEC_FIELDS.items()}


# Split -> its folder under the run's data/ (the test labels sit beside the test features).
_SPLIT_FOLDERS = {"train": "train", "validation": "validation", "test": "test", "testLabels": "test-labels"}


def split_keys(prefix: str, part: str | None = None) -> dict[str, str]:
    """The object key of each split under ``prefix`` (ending in "/"): ``part`` in every folder (a shard's
    file), or else ``<split>.csv`` (the test labels' file is test.csv, like the features it labels)."""
    return {
        split: f"{prefix}data/{folder}/{part or folder.removesuffix('-labels') + '.csv'}"
        for split, folder in _SPLIT_FOLDERS.items()
    }


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
                writers[1].write(label_lines(labels))
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
        "rows": spec.rows,
        "features": N_FEATURES,
        "noise": spec.noise,
        "seed": spec.seed,
    }
    if shards:
        # The shards' results carry their noise statistics; Evaluate Model pools them.
        return {**dataset, "noiseFloorRmse": None, "shards": shards}
    keys = split_keys(f"{prefix}/")
    rng = random.Random(spec.seed)  # reproducible synthetic data, not a secret  # noqa: S311  # nosec B311
    squared_error = write_splits(client, bucket, keys, spec.rows, rng, spec.noise)
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
    if not isinstance(prefix, str) or not RUN_PREFIX.fullmatch(prefix):
        raise InvalidShardRequest(f"dataset.prefix must be {RUNS_PREFIX}/<run name>/, got {prefix!r}")
    if dataset.get("bucket") != bucket:
        raise InvalidShardRequest(f"dataset.bucket must be this function's bucket {bucket}")
    noise = dataset.get("noise")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise <= 100:
        raise InvalidShardRequest(f"dataset.noise must be a number from 0 to 100, got {noise!r}")
    keys = split_keys(prefix, f"part-{index:05d}.csv")
    rng = random.Random(seed)  # reproducible synthetic data, not a secret  # noqa: S311  # nosec B311
    squared_error = write_splits(client, bucket, keys, rows, rng, float(noise))
    return {
        "index": index,
        "rows": rows,
        "testNoiseSumOfSquares": squared_error,
        "noiseFloorRmse": round(math.sqrt(squared_error / rows["test"]), 6) if rows["test"] else None,
    }
