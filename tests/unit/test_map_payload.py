"""The Map of shards passes each shard only what it needs, and the largest state stays far below 256 KiB.

Step Functions refuses a state input or output above 256 KiB (the execution fails). Measured at the schema's
largest generated input split into the most shards the function plans (MAX_SHARDS).
"""

from __future__ import annotations

import json
import math
from types import ModuleType
from typing import Any

import dataset_writer
import pytest

from tests.unit import dataset_support as support

MAP_STATE = "Generate Dataset Shards"
STEP_FUNCTIONS_PAYLOAD_LIMIT = 256 * 1024
# The schema's maxima: 100,000,000 + 10,000,000 + 10,000,000 rows, the most noise, the largest seed.
LARGEST_INPUT = {
    "trainRows": 100_000_000,
    "validationRows": 10_000_000,
    "testRows": 10_000_000,
    "noise": 100,
    "seed": 2147483647,
}


def _path(document: Any, path: str) -> Any:
    for part in path.removeprefix("$").strip(".").split("."):
        if part:
            document = document[part]
    return document


def _select(selector: Any, state: Any, item: Any) -> Any:
    """An ItemSelector applied to the state and one item (JSONPath fields only, as the definition uses)."""
    if isinstance(selector, dict):
        selected = {}
        for key, value in selector.items():
            if key.endswith(".$"):
                selected[key[:-2]] = item if value == "$$.Map.Item.Value" else _path(state, value)
            else:
                selected[key] = _select(value, state, item)
        return selected
    return selector


def _size(document: Any) -> int:
    return len(json.dumps(document, separators=(",", ":")).encode())


@pytest.fixture
def largest_state(dataset_app: ModuleType, bucket: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The first state's output for the largest input, split into MAX_SHARDS shards."""
    total = sum(LARGEST_INPUT[k] for k in ("trainRows", "validationRows", "testRows"))
    monkeypatch.setenv("DATASET_SHARD_ROWS", str(math.ceil(total / dataset_writer.MAX_SHARDS)))
    state = dataset_app.lambda_handler(support.event_for(LARGEST_INPUT), None)
    assert len(state["dataset"]["shards"]) == dataset_writer.MAX_SHARDS
    return state


def test_each_shard_gets_its_plan_the_bucket_the_prefix_and_the_noise_only(
    state_machine_definition: dict[str, Any], largest_state: dict[str, Any]
) -> None:
    selector = state_machine_definition["States"][MAP_STATE]["ItemSelector"]
    shards = largest_state["dataset"]["shards"]
    iterations = [_select(selector, largest_state, shard) for shard in shards]

    assert iterations[7] == {
        "shard": shards[7],
        "dataset": {
            "bucket": largest_state["dataset"]["bucket"],
            "prefix": largest_state["dataset"]["prefix"],
            "noise": 100,
        },
    }
    # Constant per shard: the history grows with the shard count, not with its square.
    assert max(_size(i) for i in iterations) < 512


def test_the_largest_state_stays_far_below_the_step_functions_limit(
    dataset_app: ModuleType, largest_state: dict[str, Any]
) -> None:
    # The Map's result: every shard's row counts and noise statistics (floats at full length), or a failed
    # shard's error and cause.
    results = [
        {
            "index": shard["index"],
            "rows": {
                "train": shard["trainRows"],
                "validation": shard["validationRows"],
                "test": shard["testRows"],
            },
            "testNoiseSumOfSquares": 1234567.8901234567,
            "noiseFloorRmse": 99.123456,
        }
        for shard in largest_state["dataset"]["shards"]
    ]
    after_map = {**largest_state, "dataset": {**largest_state["dataset"], "shardResults": results}}
    size = _size(after_map)

    # Measured: 94,695 bytes (37% of the limit), the plans and results of 400 shards; the execution input,
    # config and names add under 5 KiB.
    assert size < STEP_FUNCTIONS_PAYLOAD_LIMIT / 2, f"{size} bytes"
