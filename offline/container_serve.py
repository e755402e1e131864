"""The XGBoost container's response to one batch transform request, byte for byte.

Read from aws/sagemaker-xgboost-container, ``algorithm_mode/serve.py`` (``invocations``, ``_parse_accept``)
and ``algorithm_mode/serve_utils.py`` (selectable inference), the same at the tags v1.7-1 and v3.0-5 and
on the 3.2 branch unless noted. SageMaker starts a transform job's container with ``SAGEMAKER_BATCH`` set,
and in that mode the container ignores the Accept type for plain predictions (serve.py, lines 240-242):
the body is ``str()`` of each prediction (``predictions.tolist()``: a float32 widened to a Python float, a
multi-class row a list), one a line, the last line ended too, whatever Accept said. Only selectable
inference (the model's ``SAGEMAKER_INFERENCE_OUTPUT``) encodes by Accept.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from offline.algorithm_errors import AlgorithmFailure

# serve.py line 31: what the Accept header may name (an empty Accept or */* means text/csv).
SUPPORTED_ACCEPTS = [
    "application/json",
    "application/jsonlines",
    "application/x-recordio-protobuf",
    "text/csv",
]
INFERENCE_OUTPUT = "SAGEMAKER_INFERENCE_OUTPUT"
DEFAULT_ACCEPT = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"

_SCORE_ONLY = ("predicted_score",)
_BINARY = ("predicted_label", "labels", "probability", "probabilities", "raw_score", "raw_scores")
_BINARY_RAW = ("predicted_label", "labels", "raw_score", "raw_scores")
# serve_utils.py VALID_OBJECTIVES (lines 78-89 on the 3.2 branch and v3.0-5): the keys each objective can
# select. v1.7-1 has no reg:absoluteerror entry: selectable output of such a model fails there.
_VALID_KEYS = {
    "reg:squarederror": _SCORE_ONLY,
    "reg:logistic": _SCORE_ONLY,
    "reg:gamma": _SCORE_ONLY,
    "reg:absoluteerror": _SCORE_ONLY,
    "reg:tweedie": _SCORE_ONLY,
    "binary:logistic": _BINARY,
    "binary:logitraw": _BINARY_RAW,
    "binary:hinge": _BINARY_RAW,
    "multi:softmax": _BINARY_RAW,
    "multi:softprob": _BINARY,
}


def valid_keys(objective: str, version: str) -> tuple[str, ...] | None:
    if version == "1.7-1" and objective == "reg:absoluteerror":
        return None
    return _VALID_KEYS.get(objective)


@dataclass(frozen=True)
class Serving:
    """What the container knows when it answers: the model's objective and classes, its environment."""

    objective: str | None
    num_class: str = ""
    version: str = "3.0-5"
    environment: Mapping[str, str] | None = None

    def selected_keys(self) -> list[str] | None:
        """serve_utils.get_selected_output_keys: SAGEMAKER_INFERENCE_OUTPUT, spaces removed, lower case."""
        value = (self.environment or {}).get(INFERENCE_OUTPUT)
        return None if value is None else value.replace(" ", "").lower().split(",")

    def accept(self, accept: str | None) -> str:
        """serve.py ``_parse_accept``: the media type of Accept (its parameters dropped), or the default."""
        media = (accept or "").split(";")[0].strip()
        if not media or media == "*/*":
            return (self.environment or {}).get(DEFAULT_ACCEPT, "text/csv")
        if media.lower() not in SUPPORTED_ACCEPTS:
            raise AlgorithmFailure(
                f"ClientError: Accept type {media} is not supported. Please use supported accept types: "
                f"{SUPPORTED_ACCEPTS}."
            )
        return media.lower()

    def response(self, predictions: np.ndarray, accept: str | None) -> str:
        """The body the container returns for ``predictions`` (one batch) in batch mode."""
        media = self.accept(accept)
        keys = self.selected_keys()
        if keys is None:
            return "\n".join(map(str, predictions.tolist())) + "\n"  # serve.py line 242
        return _encode_selected(self._selected(predictions, keys), keys, media)

    def _selected(self, predictions: np.ndarray, keys: list[str]) -> list[dict[str, Any]]:
        """serve_utils.get_selected_predictions: the selected values of each prediction; a key the objective
        cannot give is NaN."""
        objective = self.objective or ""
        allowed = valid_keys(objective, self.version)
        if allowed is None:
            # The container answers 500 with this text; the transform job fails.
            raise AlgorithmFailure(
                f"AlgorithmError: Objective `{objective}` unsupported for selectable inference predictions."
            )
        valid = [k for k in dict.fromkeys(keys) if k in allowed]
        # The container adds the invalid keys in set order (arbitrary); here in the order they were given.
        invalid = [k for k in dict.fromkeys(keys) if k not in allowed]
        rows = []
        for raw in predictions:
            values = {key: _value(key, objective, raw, self.num_class) for key in _ORDER if key in valid}
            values.update({key: math.nan for key in invalid})
            rows.append(values)
        return rows


# The order get_selected_predictions fills each prediction's dict in.
_ORDER = (
    "predicted_label",
    "labels",
    "probability",
    "probabilities",
    "raw_score",
    "raw_scores",
    "predicted_score",
)


def _value(key: str, objective: str, raw: Any, num_class: str) -> Any:
    """One selected value (serve_utils ``_get_predicted_label``, ``_get_labels``, ``_get_probability``...)."""
    raw = np.asarray(raw)
    softprob, binary_log = objective == "multi:softprob", objective == "binary:logistic"
    scored = objective in ("binary:logitraw", "binary:hinge", "binary:logistic", "multi:softmax")
    if key == "predicted_label":
        if objective in ("binary:hinge", "multi:softmax"):
            return raw.item()
        if binary_log:
            return int(raw > 0.5)
        if objective == "binary:logitraw":
            return int(raw > 0)
        return np.argmax(raw).item() if softprob else math.nan
    if key == "labels":
        if "binary:" in objective:
            return [0, 1]
        return list(range(int(num_class))) if "multi:" in objective and num_class else math.nan
    if key in ("probability", "raw_score"):
        if softprob:
            return max(raw.tolist())
        return raw.item() if binary_log or (key == "raw_score" and scored) else math.nan
    if key in ("probabilities", "raw_scores"):
        if softprob:
            return raw.tolist()
        if binary_log or (key == "raw_scores" and scored):
            return [1.0 - raw.item(), raw.item()]
        return math.nan
    return raw.item()  # predicted_score


def _encode_selected(rows: list[dict[str, Any]], keys: list[str], media: str) -> str:
    """serve_utils.encode_selected_predictions, batch mode."""
    if media == "application/json":
        return json.dumps({"predictions": rows})
    if media == "application/jsonlines":
        return "".join(json.dumps(row) + "\n" for row in rows)  # encoder.json_to_jsonlines
    if media == "text/csv":
        # A list is written as its str() in double quotes; the batch response ends with a newline.
        lines = [
            ",".join(f'"{row[k]}"' if isinstance(row[k], list) else str(row[k]) for k in keys) for row in rows
        ]
        return "\n".join(lines) + "\n"
    raise AlgorithmFailure(
        f"ClientError: the offline emulator does not encode selectable inference output as {media}"
    )
