"""The evaluation metrics as the XGBoost container sets them up (its train_utils.py and custom_metrics.py).

The container computes some metrics itself, with scikit-learn, and hands them to ``xgb.train`` as a custom
metric: ``accuracy``, ``balanced_accuracy``, ``f1`` (macro), ``f1_binary``, ``f1_macro``, ``precision``,
``precision_macro``, ``precision_micro``, ``recall``, ``recall_macro``, ``recall_micro`` on class labels
(the argmax of multi-class output, else margin > 0), and ``mse``, ``rmse``, ``mae``, ``r2`` on the raw
predictions. Every other metric is XGBoost's own. ``rmse`` and ``mae`` are among the container's: asked for,
they are computed by scikit-learn, not by XGBoost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skm

from offline.container_rules import CUSTOM_METRICS


def _class_labels(predictions: np.ndarray) -> np.ndarray:
    if predictions.ndim > 1:
        return np.argmax(predictions, axis=-1)
    return (predictions > 0.0).astype(int)


def _on_labels(score: Callable[..., float], **options: Any) -> Callable[[np.ndarray, np.ndarray], float]:
    def metric(predictions: np.ndarray, labels: np.ndarray) -> float:
        if predictions.size == 0:
            return 0.0
        return float(score(labels, _class_labels(predictions), **options))

    return metric


def _on_values(score: Callable[..., float]) -> Callable[[np.ndarray, np.ndarray], float]:
    return lambda predictions, labels: float(score(labels, predictions))


_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": _on_labels(skm.accuracy_score),
    "balanced_accuracy": _on_labels(skm.balanced_accuracy_score),
    "f1": _on_labels(skm.f1_score, average="macro"),
    "f1_binary": _on_labels(skm.f1_score, average="binary"),
    "f1_macro": _on_labels(skm.f1_score, average="macro"),
    "mse": _on_values(skm.mean_squared_error),
    "rmse": _on_values(skm.root_mean_squared_error),
    "mae": _on_values(skm.mean_absolute_error),
    "precision": _on_labels(skm.precision_score),
    "precision_macro": _on_labels(skm.precision_score, average="macro"),
    "precision_micro": _on_labels(skm.precision_score, average="micro"),
    "r2": _on_values(skm.r2_score),
    "recall": _on_labels(skm.recall_score),
    "recall_macro": _on_labels(skm.recall_score, average="macro"),
    "recall_micro": _on_labels(skm.recall_score, average="micro"),
}
assert set(_FUNCTIONS) == set(CUSTOM_METRICS)


@dataclass(frozen=True)
class EvaluationPlan:
    """What ``xgb.train`` receives: XGBoost's metrics (None: XGBoost's default for the objective) and the
    container's own, plus the metric that decides early stopping."""

    native: list[str] | None
    custom: tuple[str, ...]
    early_stopping_metric: str | None

    def custom_metric(self) -> Callable[[np.ndarray, Any], list[tuple[str, float]]] | None:
        if not self.custom:
            return None
        names = self.custom

        def evaluate(predictions: np.ndarray, dmatrix: Any) -> list[tuple[str, float]]:
            labels = dmatrix.get_label()
            return [(name, _FUNCTIONS[name](np.asarray(predictions), labels)) for name in names]

        return evaluate


def evaluation_plan(
    tuning_objective_metric: str | None, eval_metric: Sequence[str] | None, early_stopping_rounds: int | None
) -> EvaluationPlan:
    """The container's train_utils.get_eval_metrics_and_feval and its choice of early-stopping metric."""
    tuning = tuning_objective_metric.split(":")[1].split(",") if tuning_objective_metric else None
    if tuning is None and eval_metric is None:
        union = None
    elif tuning is None or eval_metric is None:
        union = list(tuning or eval_metric or [])
    else:
        # Sorted, as the container sorts the union so that every host lists the metrics alike.
        union = sorted(set(tuning) | set(eval_metric))
    native: list[str] | None = None
    custom: tuple[str, ...] = ()
    if union is not None:
        custom = tuple(m for m in union if m in CUSTOM_METRICS)
        # The container takes a set difference here (no fixed order); sorted, so runs repeat.
        native = sorted(set(union) - set(custom)) if custom else list(union)
        native = native or None
    stopping = None
    if early_stopping_rounds:
        if tuning:
            stopping = tuning[-1]
        elif eval_metric:
            stopping = eval_metric[-1]
    return EvaluationPlan(native=native, custom=custom, early_stopping_metric=stopping)


def maximized(metric: str, maximize_metrics: Sequence[str]) -> bool:
    """Early stopping's direction as the container sets it: listed as maximized, else minimized (so
    ``ndcg@5`` and ``map@3`` are minimized there: only the plain names are listed)."""
    return metric in maximize_metrics


def custom_metric(names: Sequence[str]) -> Callable[[np.ndarray, Any], list[tuple[str, float]]] | None:
    """The custom metric ``xgb.train`` receives for the container's own metrics ``names`` (None: none)."""
    return EvaluationPlan(native=None, custom=tuple(names), early_stopping_metric=None).custom_metric()
