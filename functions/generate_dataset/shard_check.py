"""After the state machine's Map: when any shard of the data set failed, every shard's files are removed
and the run fails with DatasetShardFailed, so no partial data set is left."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dataset_writer import MAX_SHARDS, DatasetWriteError, InvalidShardRequest, split_keys
from naming import RUN_PREFIX, RUNS_PREFIX


class DatasetShardFailed(RuntimeError):
    """A shard of the data set failed; every shard's files were removed: no partial data set is left."""


def check_shards(client: Any, bucket: str, check: Any) -> dict[str, Any]:
    """After the Map: when any shard failed, removes every shard's files and raises DatasetShardFailed.

    Each failed shard's result is ``{"index", "error", "cause"}`` (the Map's iteration Catch). The Map lets
    every iteration end first, so no shard is still writing when its files are removed.
    """
    if not isinstance(check, Mapping) or not isinstance(check.get("results"), list):
        raise InvalidShardRequest(
            "the event's 'checkShards' must hold 'bucket', 'prefix' and 'results' (a list)"
        )
    prefix = check.get("prefix")
    if not isinstance(prefix, str) or not RUN_PREFIX.fullmatch(prefix):
        raise InvalidShardRequest(f"checkShards.prefix must be {RUNS_PREFIX}/<run name>/, got {prefix!r}")
    if check.get("bucket") != bucket:
        raise InvalidShardRequest(f"checkShards.bucket must be this function's bucket {bucket}")
    results = check["results"]
    if len(results) > MAX_SHARDS or not all(isinstance(r, Mapping) for r in results):
        raise InvalidShardRequest(f"checkShards.results must be at most {MAX_SHARDS} shard results")
    failed = [r for r in results if "error" in r]
    if not failed:
        return {"shards": len(results), "failed": 0}
    keys = [
        key for index in range(len(results)) for key in split_keys(prefix, f"part-{index:05d}.csv").values()
    ]
    for start in range(0, len(keys), 1000):  # DeleteObjects takes 1,000 keys at most
        response = client.delete_objects(
            Bucket=bucket,
            Delete={"Objects": [{"Key": key} for key in keys[start : start + 1000]], "Quiet": True},
        )
        if response.get("Errors"):
            first = response["Errors"][0]
            raise DatasetWriteError(
                f"a shard failed, and removing the shards' files under s3://{bucket}/{prefix}data/ failed "
                f"too ({first.get('Code')}: {first.get('Message')} for {first.get('Key')}): delete it"
            )
    first = failed[0]
    raise DatasetShardFailed(
        f"{len(failed)} of {len(results)} data set shards failed (shard {first.get('index')}: "
        f"{first.get('error')}: {first.get('cause')}); the files of every shard were removed from "
        f"s3://{bucket}/{prefix}data/, so no partial data set is left. Start a new execution once the cause "
        "is fixed."
    )
