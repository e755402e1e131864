"""What the SageMaker XGBoost container accepts, per container version: hyperparameters and metrics.

Our own reading of aws/sagemaker-xgboost-container, as data: every declared hyperparameter with its type,
range (open or closed ends as declared), whether it is required or tunable; the aliases; the metrics
``eval_metric`` takes and the tuning objectives with their directions; the dependency checks, with the
container's messages. ``docs/container-rules.md`` names the source file of each rule.

Versions: 1.7-1, 3.0-5 and 3.2-0 declare the same table today. The 1.7-1 image SageMaker serves is rebuilt
from the container's ``1.7-1`` branch, which added ``reg:absoluteerror`` after the ``v1.7-1`` tag; the
branch is what a training job meets, so it is what this table follows.

Used by the training emulator (``validate``) and by the tuning job's request checks (``rules(version)``:
``tunable``, ``tuning_metrics``, ``hyperparameters``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from offline import container_validation
from offline.container_validation import Hyperparameter, Interval, RuleViolation

__all__ = ["Hyperparameter", "Interval", "RuleViolation"]

VERSIONS = ("1.7-1", "3.0-5", "3.2-0")
MAXIMIZE = "Maximize"
MINIMIZE = "Minimize"

# --- metrics --------------------------------------------------------------------------------------------

# constants/xgb_constants.py: XGB_MAXIMIZE_METRICS and XGB_MINIMIZE_METRICS (interval-regression-accuracy
# is listed as minimized there; so it is here).
_MAXIMIZE_METRICS = (
    "accuracy",
    "auc",
    "aucpr",
    "balanced_accuracy",
    "f1",
    "f1_binary",
    "f1_macro",
    "map",
    "ndcg",
    "precision",
    "r2",
    "recall",
    "precision_macro",
    "precision_micro",
    "recall_macro",
    "recall_micro",
)
_MINIMIZE_METRICS = (
    "aft-nloglik",
    "cox-nloglik",
    "error",
    "gamma-deviance",
    "gamma-nloglik",
    "interval-regression-accuracy",
    "logloss",
    "mae",
    "mape",
    "merror",
    "mlogloss",
    "mphe",
    "mse",
    "poisson-nloglik",
    "rmse",
    "rmsle",
    "tweedie-nloglik",
)
# metrics/custom_metrics.py: CUSTOM_METRICS, computed by the container (scikit-learn), not by XGBoost.
CUSTOM_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "f1",
    "f1_binary",
    "f1_macro",
    "mse",
    "rmse",
    "mae",
    "precision",
    "precision_macro",
    "precision_micro",
    "r2",
    "recall",
    "recall_macro",
    "recall_micro",
)

# --- the table ------------------------------------------------------------------------------------------

_OBJECTIVES = (
    "aft_loss_distribution",
    "binary:logistic",
    "binary:logitraw",
    "binary:hinge",
    "count:poisson",
    "multi:softmax",
    "multi:softprob",
    "rank:pairwise",
    "rank:ndcg",
    "rank:map",
    "reg:linear",
    "reg:squarederror",
    "reg:logistic",
    "reg:gamma",
    "reg:pseudohubererror",
    "reg:squaredlogerror",
    "reg:absoluteerror",
    "reg:tweedie",
    "survival:aft",
    "survival:cox",
)
# The updater's declared item list, repeats and all (they appear in its range message).
_UPDATER_ITEMS = (
    "grow_colmaker",
    "distcol",
    "grow_histmaker",
    "grow_skmaker",
    "sync",
    "refresh",
    "prune",
    "grow_colmaker",
    "distcol",
    "grow_histmaker",
    "grow_colmaker",
    "shotgun",
    "coord_descent",
    "refresh",
    "prune",
)
_TRUE_FALSE = ("true", "false")


def _int(name: str, interval: Interval, **kw: Any) -> Hyperparameter:
    return Hyperparameter(name, "integer", interval=interval, **kw)


def _float(name: str, interval: Interval, **kw: Any) -> Hyperparameter:
    return Hyperparameter(name, "continuous", interval=interval, **kw)


def _cat(name: str, choices: tuple[Any, ...], **kw: Any) -> Hyperparameter:
    return Hyperparameter(name, "categorical", choices=choices, **kw)


def _tuned(low: float, high: float) -> dict[str, Any]:
    return {"tunable": True, "tunable_range": Interval(min_closed=low, max_closed=high)}


def _table(tuning_metric_names: tuple[str, ...]) -> tuple[Hyperparameter, ...]:
    # algorithm_mode/hyperparameter_validation.py, in its declaration order.
    return (
        _int("num_round", Interval(min_closed=1), required=True, **_tuned(1, 4000)),
        _int("csv_weights", Interval(min_closed=0, max_closed=1)),
        _int("early_stopping_rounds", Interval(min_closed=1)),
        _cat("booster", ("gbtree", "gblinear", "dart")),
        _int("verbosity", Interval(min_closed=0, max_closed=3)),
        _int("nthread", Interval(min_closed=1)),
        _float("eta", Interval(min_closed=0, max_closed=1), **_tuned(0.1, 0.5)),
        _float("gamma", Interval(min_closed=0), **_tuned(0, 5)),
        _int("max_depth", Interval(min_closed=0), **_tuned(0, 10)),
        _float("min_child_weight", Interval(min_closed=0), **_tuned(0, 120)),
        _float("max_delta_step", Interval(min_closed=0), **_tuned(0, 10)),
        _float("subsample", Interval(min_open=0, max_closed=1), **_tuned(0.5, 1)),
        _float("colsample_bytree", Interval(min_open=0, max_closed=1), **_tuned(0.5, 1)),
        _float("colsample_bylevel", Interval(min_open=0, max_closed=1), **_tuned(0.1, 1)),
        _float("colsample_bynode", Interval(min_open=0, max_closed=1), **_tuned(0.1, 1)),
        _float("lambda", Interval(min_closed=0), **_tuned(0, 1000)),
        _float("alpha", Interval(min_closed=0), **_tuned(0, 1000)),
        _cat("tree_method", ("auto", "exact", "approx", "hist", "gpu_hist")),
        _float("sketch_eps", Interval(min_open=0, max_open=1)),
        _float("scale_pos_weight", Interval(min_open=0)),
        Hyperparameter("updater", "list", choices=_UPDATER_ITEMS, depends_on=("booster", "process_type")),
        _cat("dsplit", ("row", "col")),
        _int("refresh_leaf", Interval(min_closed=0, max_closed=1)),
        _cat("process_type", ("default", "update")),
        _cat("grow_policy", ("depthwise", "lossguide")),
        _int("max_leaves", Interval(min_closed=0)),
        _int("max_bin", Interval(min_closed=0)),
        _cat("predictor", ("auto", "cpu_predictor", "gpu_predictor")),
        Hyperparameter("monotone_constraints", "tuple", choices=(-1, 0, 1), depends_on=("tree_method",)),
        Hyperparameter(
            "interaction_constraints",
            "nested_list",
            interval=Interval(min_closed=1),
            depends_on=("tree_method",),
        ),
        _cat("sample_type", ("uniform", "weighted")),
        _cat("normalize_type", ("tree", "forest")),
        _float("rate_drop", Interval(min_closed=0, max_closed=1)),
        _int("one_drop", Interval(min_closed=0, max_closed=1)),
        _float("skip_drop", Interval(min_closed=0, max_closed=1)),
        _float("lambda_bias", Interval(min_closed=0, max_closed=1)),
        _float("tweedie_variance_power", Interval(min_open=1, max_open=2)),
        _cat("objective", _OBJECTIVES, depends_on=("num_class",)),
        _int("num_class", Interval(min_closed=2)),
        _float("base_score", Interval(min_closed=0)),
        _int("_kfold", Interval(min_closed=2)),
        _int("_num_cv_round", Interval(min_closed=1)),
        _cat("_tuning_objective_metric", tuning_metric_names),
        Hyperparameter(
            "eval_metric", "list", choices=_MAXIMIZE_METRICS + _MINIMIZE_METRICS, depends_on=("objective",)
        ),
        _int("seed", Interval(min_open=-(2**31), max_open=2**31 - 1)),
        _int("num_parallel_tree", Interval(min_closed=1)),
        _cat("save_model_on_termination", _TRUE_FALSE),
        _cat("aft_loss_distribution", ("normal", "logistic", "extreme")),
        _float("aft_loss_distribution_scale", Interval(min_closed=0)),
        _cat("deterministic_histogram", _TRUE_FALSE),
        _cat("sampling_method", ("uniform", "gradient_based")),
        _int("prob_buffer_row", Interval(min_open=1.0)),
        _cat("use_dask_gpu_training", _TRUE_FALSE),
    )


_ALIASES = {"learning_rate": "eta", "min_split_loss": "gamma", "reg_lambda": "lambda", "reg_alpha": "alpha"}
# Read by the container itself and removed before xgb.train (train.py, train_job; use_dask_gpu_training in
# sagemaker_train). csv_weights stays in the parameters XGBoost receives, which ignores it.
CONTAINER_ONLY = frozenset(
    {
        "num_round",
        "save_model_on_termination",
        "_tuning_objective_metric",
        "early_stopping_rounds",
        "_kfold",
        "_num_cv_round",
        "use_dask_gpu_training",
    }
)


@dataclass(frozen=True)
class ContainerRules:
    """The rules of one container version."""

    version: str
    hyperparameters: Mapping[str, Hyperparameter]
    aliases: Mapping[str, str]
    tuning_metrics: Mapping[str, str]  # "validation:rmse" -> Minimize
    maximize_metrics: tuple[str, ...] = field(default=_MAXIMIZE_METRICS)
    minimize_metrics: tuple[str, ...] = field(default=_MINIMIZE_METRICS)

    @property
    def tunable(self) -> frozenset[str]:
        """The names a tuning job may tune (the algorithm's IsTunable hyperparameters)."""
        return frozenset(name for name, hp in self.hyperparameters.items() if hp.tunable)

    @property
    def eval_metrics(self) -> tuple[str, ...]:
        return self.maximize_metrics + self.minimize_metrics

    def validate(self, hyperparameters: Mapping[str, str]) -> dict[str, Any]:
        """The container's checks, in its order; the parsed values, or RuleViolation with its message."""
        return container_validation.validate(self, hyperparameters)


def rules(version: str) -> ContainerRules:
    if version not in _RULES:
        raise ValueError(f"unknown XGBoost container version {version!r}: one of {', '.join(VERSIONS)}")
    return _RULES[version]


_IMAGE_TAG = re.compile(r"sagemaker-xgboost:(?P<tag>[^/@]+)$")


def version_from_image(image: str) -> str:
    """The container version of a ``.../sagemaker-xgboost:<tag>`` image (``1.7-1-cpu-py3`` too)."""
    found = _IMAGE_TAG.search(image or "")
    tag = found.group("tag") if found else ""
    for version in VERSIONS:
        if tag == version or tag.startswith(version + "-"):
            return version
    raise ValueError(
        f"image {image!r} is not a sagemaker-xgboost image of a version the offline emulator knows "
        f"({', '.join(VERSIONS)})"
    )


def _build(version: str) -> ContainerRules:
    # algorithm_mode/metrics.py: every maximized and minimized metric, on the validation channel only.
    tuning = {f"validation:{m}": MAXIMIZE for m in _MAXIMIZE_METRICS}
    tuning.update({f"validation:{m}": MINIMIZE for m in _MINIMIZE_METRICS})
    table = _table(tuple(tuning))
    return ContainerRules(
        version=version,
        hyperparameters={hp.name: hp for hp in table},
        aliases=dict(_ALIASES),
        tuning_metrics=tuning,
    )


_RULES = {version: _build(version) for version in VERSIONS}
