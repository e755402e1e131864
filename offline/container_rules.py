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

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

VERSIONS = ("1.7-1", "3.0-5", "3.2-0")
MAXIMIZE = "Maximize"
MINIMIZE = "Minimize"


class RuleViolation(Exception):
    """The container refuses the job. ``kind`` is the toolkit's class: UserError or AlgorithmError."""

    def __init__(self, message: str, kind: str = "UserError") -> None:
        super().__init__(message)
        self.message, self.kind = message, kind


# --- ranges ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A numeric range; ``None`` ends are unbounded. ``str`` prints as the container's toolkit does."""

    min_open: float | None = None
    min_closed: float | None = None
    max_open: float | None = None
    max_closed: float | None = None

    def __contains__(self, value: Any) -> bool:
        # Comparisons as the toolkit makes them: a NaN compares False everywhere, so it is "in" every range.
        return not (
            (self.min_open is not None and value <= self.min_open)
            or (self.min_closed is not None and value < self.min_closed)
            or (self.max_open is not None and value >= self.max_open)
            or (self.max_closed is not None and value > self.max_closed)
        )

    def __str__(self) -> str:
        low = (
            f"({self.min_open}, "
            if self.min_open is not None
            else f"[{self.min_closed}, "
            if self.min_closed is not None
            else "(-inf, "
        )
        high = (
            f"{self.max_open})"
            if self.max_open is not None
            else f"{self.max_closed}]"
            if self.max_closed is not None
            else "+inf)"
        )
        return low + high


@dataclass(frozen=True)
class Hyperparameter:
    """One declared hyperparameter.

    ``kind``: integer | continuous | categorical | list (comma-separated) | tuple | nested_list.
    ``choices``: the categorical values, or the allowed list items, exactly as declared (repeats included:
    they show in the container's messages). ``tunable_range``: the container's recommended tuning range.
    """

    name: str
    kind: str
    interval: Interval | None = None
    choices: tuple[Any, ...] = ()
    required: bool = False
    tunable: bool = False
    tunable_range: Interval | None = None
    depends_on: tuple[str, ...] = ()


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
_THRESHOLD_METRICS = ("error", "ndcg", "map")

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
        return _validate(self, hyperparameters)


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


# --- validation (sagemaker_algorithm_toolkit/hyperparameter_validation.py, Hyperparameters.validate) ------


def _parse(hp: Hyperparameter, raw: str) -> Any:
    """The value as the toolkit parses it; ValueError where the toolkit reports 'could not parse value'."""
    if hp.kind == "integer":
        return int(raw)
    if hp.kind == "continuous":
        return float(raw)
    if hp.kind == "list":
        return raw.split(",")
    if hp.kind in ("tuple", "nested_list"):
        # The container evaluates these as Python literals (a tuple, a list of lists); a literal is all
        # that can be meant, so it is read with literal_eval here.
        try:
            return ast.literal_eval(raw)
        except ValueError:
            raise
        except Exception as e:  # SyntaxError and the like escape the toolkit's ValueError handling
            raise RuleViolation(
                f"framework error: {type(e).__name__} while reading hyperparameter {hp.name}={raw!r}",
                "AlgorithmError",
            ) from None
    return raw


def _check_range(hp: Hyperparameter, value: Any) -> None:
    name = hp.name
    if hp.kind in ("integer", "continuous"):
        if value not in hp.interval:  # type: ignore[operator]
            raise RuleViolation(f"Hyperparameter {name}: {value} is not in {hp.interval}")
    elif hp.kind == "categorical":
        if value not in hp.choices:
            raise RuleViolation(f"Hyperparameter {name}: {value} is not in {list(hp.choices)}")
    elif hp.kind == "list":
        if name == "eval_metric":
            if not all(_eval_metric_allowed(metric, hp.choices) for metric in value):
                raise RuleViolation(f"Hyperparameter {name}: value {value} not in range {list(hp.choices)}")
        elif any(item not in hp.choices for item in value):
            raise RuleViolation(f"Hyperparameter {name}: value {value} not in range {list(hp.choices)}")
    elif hp.kind in ("tuple", "nested_list"):
        try:
            items = list(value) if hp.kind == "tuple" else [e for outer in value for e in outer]
            bad = any(
                (item not in hp.interval) if hp.interval is not None else (item not in hp.choices)
                for item in items
            )
        except TypeError as e:
            raise RuleViolation(
                f"Hyperparameter {name}: unexpected failure when validating {value} "
                f"(caused by {type(e).__name__})",
                "AlgorithmError",
            ) from None
        if bad:
            shown = hp.interval if hp.interval is not None else list(hp.choices)
            raise RuleViolation(f"Hyperparameter {name}: value {value} not in range {shown}")


def _eval_metric_allowed(metric: str, allowed: tuple[Any, ...]) -> bool:
    if "<function" in metric:
        raise RuleViolation(f"User defined evaluation metric {metric} is not supported yet.")
    if "@" in metric:
        name, threshold = metric.split("@")[0].strip(), metric.split("@")[1].strip()
        if name not in _THRESHOLD_METRICS:
            raise RuleViolation(
                f"Metric '{metric}' is not supported. Parameter 'eval_metric' with customized threshold "
                "should be one of these options: 'error', 'ndcg', 'map'."
            )
        try:
            float(threshold)
        except ValueError:
            raise RuleViolation(f"Threshold value 't' in '{name}@t' expects float input.") from None
        return True
    return metric in allowed


_TREE_PLUGINS = (
    "grow_colmaker",
    "distcol",
    "grow_histmaker",
    "grow_skmaker",
    "sync",
    "refresh",
    "prune",
    "grow_quantile_histmaker",
)
_TREE_BUILD_PLUGINS = ("grow_colmaker", "distcol", "grow_histmaker", "grow_quantile_histmaker")


def _updater(value: list[str], deps: Mapping[str, Any]) -> None:
    if deps.get("booster") == "gblinear":
        if not (len(value) == 1 and value[0] in ("shotgun", "coord_descent")):
            # The container means to list 'shotgun' and 'coord_descent' here; its formatting garbles the list.
            raise RuleViolation("Linear updater should be one of these options: 'shotgun', 'coord_descent'.")
    elif deps.get("process_type") == "update":
        if not all(item in ("refresh", "prune") for item in value):
            raise RuleViolation("process_type 'update' can only be used with updater 'refresh' and 'prune'")
    else:
        if not all(item in _TREE_PLUGINS for item in value):
            raise RuleViolation(
                "Tree updater should be selected from these options: 'grow_colmaker', 'distcol', "
                "'grow_histmaker', 'grow_skmaker', 'grow_quantile_histmaker', 'sync', 'refresh', 'prune', "
                "'shortgun', 'coord_descent'."
            )
        if sum(item in _TREE_BUILD_PLUGINS for item in value) > 1:
            raise RuleViolation(
                "Only one tree grow plugin can be selected. Choose one from thefollowing: 'grow_colmaker', "
                "'distcol', 'grow_histmaker', 'grow_skmaker'"
            )


def _objective(value: str, deps: Mapping[str, Any]) -> None:
    if value in ("multi:softmax", "multi:softprob") and deps.get("num_class") is None:
        raise RuleViolation("Require input for parameter 'num_class' for multi-classification")


def _eval_metric(value: list[str], deps: Mapping[str, Any]) -> None:
    if "objective" not in deps:
        # The container's check reads the objective unconditionally: eval_metric without objective fails
        # the job with a KeyError from inside the validation.
        raise RuleViolation(
            "framework error: KeyError: 'objective' (the container's eval_metric check needs the objective "
            "hyperparameter: set objective, e.g. reg:squarederror)",
            "AlgorithmError",
        )
    objective = deps["objective"]
    if "auc" in value and not objective.startswith(("binary:", "rank:")):
        raise RuleViolation("Metric 'auc' can only be applied for classification and ranking problems.")
    if "aft-nloglik" in value and objective != "survival:aft":
        raise RuleViolation("Metric 'aft-nloglik' can only be applied for 'survival:aft' objective.")


def _monotone(value: Any, deps: Mapping[str, Any]) -> None:
    if value is not None and deps.get("tree_method") not in ("exact", "hist"):
        raise RuleViolation(
            "monotone_constraints can be used only when the tree_method parameter is set to "
            "either 'exact' or 'hist'."
        )


def _interaction(value: Any, deps: Mapping[str, Any]) -> None:
    if value is not None and deps.get("tree_method") not in ("exact", "hist", "approx"):
        raise RuleViolation(
            "interaction_constraints can be used only when the tree_method parameter is set to "
            "either 'exact', 'hist' or 'approx'."
        )


_DEPENDENCY_CHECKS: dict[str, Callable[[Any, Mapping[str, Any]], None]] = {
    "updater": _updater,
    "objective": _objective,
    "eval_metric": _eval_metric,
    "monotone_constraints": _monotone,
    "interaction_constraints": _interaction,
}


def _dependency_order(rules_: ContainerRules, names: list[str]) -> list[str]:
    """The order the toolkit checks dependencies in: a hyperparameter after those it depends on."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        seen.add(name)
        for dep in rules_.hyperparameters[name].depends_on:
            if dep in names and dep not in seen:
                visit(dep)
        order.append(name)

    for name in names:
        if name not in seen:
            visit(name)
    return order


def _validate(rules_: ContainerRules, given: Mapping[str, str]) -> dict[str, Any]:
    # 0. aliases become their names (a later entry wins, as in a dict update)
    named: dict[str, str] = {}
    for name, raw in given.items():
        named[rules_.aliases.get(name, name)] = raw
    # 1. required ones, in declaration order
    for hp in rules_.hyperparameters.values():
        if hp.required and hp.name not in named:
            raise RuleViolation(f"Missing required hyperparameter: {hp.name}")
    # 2. names and parsing, in the order given
    parsed: dict[str, Any] = {}
    for name, raw in named.items():
        hp = rules_.hyperparameters.get(name)
        if hp is None:
            raise RuleViolation(f"Extraneous hyperparameter found: {name}")
        try:
            parsed[name] = _parse(hp, str(raw))
        except ValueError:
            raise RuleViolation(
                f"Hyperparameter {name}: could not parse value (caused by ValueError)"
            ) from None
    # 3. ranges
    for name, value in parsed.items():
        _check_range(rules_.hyperparameters[name], value)
    # 4. dependencies
    checked: dict[str, Any] = {}
    for name in _dependency_order(rules_, list(parsed)):
        check = _DEPENDENCY_CHECKS.get(name)
        if check is not None:
            deps = {d: checked[d] for d in rules_.hyperparameters[name].depends_on if d in checked}
            check(parsed[name], deps)
        checked[name] = parsed[name]
    return parsed
