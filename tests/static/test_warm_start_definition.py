"""The warm-started tuning state is the cold one plus WarmStartConfig: one tuning job, sent two ways.

SageMaker refuses an empty WarmStartConfig, so the definition cannot send the field only sometimes from one
state; Warm Start? chooses between two. What keeps them from drifting apart is this test.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.static.support import TUNING_STATE, WARM_TUNING_STATE


def test_the_warm_started_tuning_state_is_the_tuning_state_plus_warm_start_config(
    state_machine_definition: dict[str, Any],
) -> None:
    states = state_machine_definition["States"]
    cold, warm = copy.deepcopy(states[TUNING_STATE]), copy.deepcopy(states[WARM_TUNING_STATE])
    assert warm["Parameters"].pop("WarmStartConfig.$") == "$.config.warmStart"
    assert "WarmStartConfig" not in cold["Parameters"] and "WarmStartConfig.$" not in cold["Parameters"]
    cold.pop("Comment")
    warm.pop("Comment")
    assert warm == cold


def test_warm_start_chooses_the_warm_started_state_only_when_the_first_state_set_it(
    state_machine_definition: dict[str, Any],
) -> None:
    states = state_machine_definition["States"]
    choice = states["Warm Start?"]
    assert choice["Type"] == "Choice"
    assert choice["Choices"] == [
        {"Variable": "$.config.warmStart", "IsPresent": True, "Next": WARM_TUNING_STATE}
    ]
    assert choice["Default"] == TUNING_STATE
    # Both ways to the tuning job pass the choice: no path skips it.
    into_tuning = sorted(
        name
        for name, state in states.items()
        if TUNING_STATE in (state.get("Next"), state.get("Default")) and name != "Warm Start?"
    )
    assert into_tuning == []
    assert states["Dataset Sharded?"]["Default"] == "Warm Start?"
    assert states["Check Dataset Shards"]["Next"] == "Warm Start?"


def test_a_bad_parent_ends_in_invalid_execution_input(state_machine_definition: dict[str, Any]) -> None:
    catches = state_machine_definition["States"]["Generate Training Dataset"]["Catch"]
    (invalid,) = [c for c in catches if c["Next"] == "Invalid Execution Input"]
    assert "WarmStartParentInvalid" in invalid["ErrorEquals"]
