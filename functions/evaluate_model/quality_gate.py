"""The quality gate's threshold: the configured one, else a multiple of the data's noise floor."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evaluation import InvalidEvaluationRequest, noise_floor_rmse


@dataclass(frozen=True)
class QualityGate:
    """The gate the Choice state applies: ``rmse > threshold`` fails the run when ``enabled``."""

    enabled: bool
    threshold: float | None
    source: str | None  # input | template | noiseFloor, None when off
    noiseFloorRmse: float | None  # camelCase: the state machine reads these keys
    basis: str  # where the threshold comes from, or why the gate is off (for the Fail state's cause)
    rmse: float  # the test RMSE rounded for the cause; the Choice compares the exact one


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def resolve_quality_gate(gate: Any, dataset: Any, rmse: float) -> QualityGate:
    """The threshold: the configured one (input, else template), else noiseFactor x the noise floor.

    ``gate`` is the run's ``config.qualityGate`` ({enabled, maxRmse, source, noiseFactor}); ``dataset`` the
    first state's ``dataset`` (generated data carries ``noiseFloorRmse`` or, sharded, ``shardResults``;
    your own data has none).
    """
    shown = round(rmse, 4)
    if gate is None:
        return QualityGate(False, None, None, None, "no quality gate in the event", shown)
    if not isinstance(gate, Mapping) or not isinstance(gate.get("enabled"), bool):
        raise InvalidEvaluationRequest("'qualityGate' must be an object with a boolean 'enabled'")
    floor = noise_floor_rmse(dataset)
    if floor is not None and not (_number(floor) and floor >= 0):
        raise InvalidEvaluationRequest(
            f"'dataset.noiseFloorRmse' must be a number of at least 0, got {floor!r}"
        )
    if not gate["enabled"]:
        return QualityGate(False, None, None, floor, "the quality gate is switched off", shown)
    max_rmse = gate.get("maxRmse")
    if max_rmse is not None:
        if not (_number(max_rmse) and max_rmse > 0):
            raise InvalidEvaluationRequest(
                f"'qualityGate.maxRmse' must be a number above 0, got {max_rmse!r}"
            )
        source = gate.get("source")
        if source not in ("input", "template"):
            raise InvalidEvaluationRequest(f"'qualityGate.source' must be input or template, got {source!r}")
        basis = (
            "maxTestRmse of the execution input" if source == "input" else "MaxTestRmse template parameter"
        )
        return QualityGate(True, float(max_rmse), source, floor, basis, shown)
    if floor is None:
        return QualityGate(
            False,
            None,
            None,
            None,
            "no threshold: the data has no known noise floor; set maxTestRmse in the execution input or the "
            "MaxTestRmse template parameter",
            shown,
        )
    if floor == 0:
        return QualityGate(
            False,
            None,
            None,
            floor,
            "no threshold: the generated data has no noise (noise 0), so a multiple of its noise floor would "
            "fail every model; set maxTestRmse in the execution input or the MaxTestRmse template parameter",
            shown,
        )
    factor = gate.get("noiseFactor")
    if not (_number(factor) and factor >= 1):
        raise InvalidEvaluationRequest(
            f"'qualityGate.noiseFactor' must be a number of at least 1, got {factor!r}"
        )
    threshold = round(factor * floor, 6)
    return QualityGate(True, threshold, "noiseFloor", floor, f"{factor:g} x noise floor {floor:g}", shown)
