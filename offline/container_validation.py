"""The XGBoost container's hyperparameter validation, as its algorithm toolkit runs it, on a rules table.

Our reading of sagemaker_algorithm_toolkit/hyperparameter_validation.py (Hyperparameters.validate: aliases,
required, parse, range, dependencies, in that order) and of the dependency checks of the container's
algorithm_mode/hyperparameter_validation.py, with their messages. The table itself is
``offline.container_rules``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


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


_THRESHOLD_METRICS = ("error", "ndcg", "map")

# --- validation -----------------------------------------------------------------------------------------


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


def _dependency_order(rules_: Any, names: list[str]) -> list[str]:
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


def validate(rules_: Any, given: Mapping[str, str]) -> dict[str, Any]:
    """``given`` checked against ``rules_`` (a ContainerRules); the parsed values, or RuleViolation."""
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
