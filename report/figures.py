"""The report's figures, drawn by matplotlib as SVG text to put inline in the page.

- the objective of each training job in the order they started, the best so far as a step line;
- which hyperparameters mattered (Optuna's fANOVA importance over the training jobs) and how the objective
  moved with each of them (a slice plot per hyperparameter);
- predicted against actual on the test set, square, with y = x.

Each function returns the ``<svg>`` element, or None when there is nothing to draw (the page says why).
Text stays text in the SVG (no embedded glyphs) and element ids are fixed, so a figure is small and the
same data draws the same bytes.
"""

from __future__ import annotations

import io
import math
import statistics
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: the figures are only ever written as SVG
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

BLUE, ORANGE, RED, GREY = "#1f6feb", "#d97706", "#b3261e", "#6b7680"
STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "tuning-report",
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e7eb",
    "axes.edgecolor": "#9aa5b1",
}
# Jobs whose objective lies above best + this many times (median - best) are drawn at the top edge of the
# objective plot, so that a few bad (often stopped) jobs do not squeeze the good ones into a strip.
CLIP_SPREAD = 4.0
MAX_SLICES = 8


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _svg(figure: Figure, title: str) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Title": title, "Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def objective_limits(values: Sequence[float], maximize: bool) -> tuple[float, float, bool]:
    """The objective axis's range: (low, high, clipped). Far-off jobs are clipped to the edge."""
    best = max(values) if maximize else min(values)
    worst = min(values) if maximize else max(values)
    spread = abs(statistics.median(values) - best)
    limit = best - CLIP_SPREAD * spread if maximize else best + CLIP_SPREAD * spread
    clipped = spread > 0 and (worst < limit if maximize else worst > limit)
    far = limit if clipped else worst
    low, high = (far, best) if maximize else (best, far)
    pad = (high - low) * 0.06 or abs(best) * 0.05 or 0.5
    return low - pad, high + pad, clipped


def objective_figure(history: Mapping[str, Any]) -> str | None:
    jobs = list(history.get("trainingJobs") or [])
    metric = str(history.get("objectiveMetric") or "objective")
    maximize = history.get("objectiveType") == "Maximize"
    values = [_number(job.get("objectiveValue")) for job in jobs]
    known = [v for v in values if v is not None]
    if not known:
        return None
    low, high, _ = objective_limits(known, maximize)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(9, 3.8))
        groups: dict[str, tuple[list[int], list[float]]] = {"completed": ([], []), "stopped": ([], [])}
        above: tuple[list[int], list[float]] = ([], [])
        missing: list[int] = []
        steps_x: list[float] = []
        steps_y: list[float] = []
        best: float | None = None
        for index, (job, value) in enumerate(zip(jobs, values, strict=True), start=1):
            if value is None:
                missing.append(index)
                continue
            if best is None or (value > best if maximize else value < best):
                best = value
            steps_x.append(index)
            steps_y.append(best)
            if not low <= value <= high:
                above[0].append(index)
                edge = (high - (high - low) * 0.03) if value > high else (low + (high - low) * 0.03)
                above[1].append(edge)
                continue
            group = "stopped" if job.get("status") == "Stopped" else "completed"
            groups[group][0].append(index)
            groups[group][1].append(value)
        if steps_x:
            steps_x.append(len(jobs) + 0.5)
            steps_y.append(steps_y[-1])
            axes.step(
                steps_x, steps_y, where="post", color=ORANGE, linewidth=2, label="best so far", zorder=2
            )
        axes.scatter(*groups["completed"], s=30, color=BLUE, label="completed", zorder=3)
        if groups["stopped"][0]:
            axes.scatter(
                *groups["stopped"],
                s=30,
                facecolors="none",
                edgecolors=BLUE,
                label="stopped early by the tuning job (last objective)",
                zorder=3,
            )
        if above[0]:
            side = "below" if maximize else "above"
            axes.scatter(
                *above,
                s=45,
                marker="v" if maximize else "^",
                color=GREY,
                label=f"{side} the plotted range (value in the table)",
                zorder=3,
            )
        if missing:
            axes.scatter(
                missing,
                [low + (high - low) * 0.03] * len(missing),
                s=45,
                marker="x",
                color=RED,
                label="no objective (failed or stopped before reporting)",
                zorder=3,
            )
        axes.set_xlim(0.5, len(jobs) + 0.5)
        axes.set_ylim(low, high)
        axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=12))
        axes.set_xlabel("training job, in the order they started")
        axes.set_ylabel(f"{metric} ({'higher' if maximize else 'lower'} is better)")
        # Below the plot: inside it would hide jobs.
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=8, frameon=False)
        return _svg(figure, f"{metric} of each training job and the best so far")


def tuned_values(history: Mapping[str, Any]) -> tuple[dict[str, list[float]], list[float]]:
    """The numeric hyperparameters that varied across the jobs with an objective, and the objectives."""
    rows = [
        (job.get("hyperparameters") or {}, _number(job.get("objectiveValue")))
        for job in history.get("trainingJobs") or []
    ]
    rows = [(params, value) for params, value in rows if value is not None]
    names = sorted({name for params, _ in rows for name in params})
    columns: dict[str, list[float]] = {}
    for name in names:
        column = [_number(params.get(name)) for params, _ in rows]
        if all(v is not None for v in column) and len(set(column)) > 1:
            columns[name] = [v for v in column if v is not None]
    return columns, [value for _, value in rows]


def importances(history: Mapping[str, Any]) -> dict[str, float]:
    """Optuna's fANOVA importance of each tuned hyperparameter over the jobs with an objective.

    The training jobs become finished Optuna trials; each hyperparameter's distribution spans the values
    the jobs tried (whole numbers stay integers). Empty when fewer than three jobs have an objective.
    """
    import optuna
    from optuna.distributions import FloatDistribution, IntDistribution

    columns, objectives = tuned_values(history)
    if len(objectives) < 3 or not columns:
        return {}
    distributions: dict[str, Any] = {}
    for name, column in columns.items():
        if all(v.is_integer() for v in column):
            distributions[name] = IntDistribution(int(min(column)), int(max(column)))
        else:
            distributions[name] = FloatDistribution(min(column), max(column))
    direction = "maximize" if history.get("objectiveType") == "Maximize" else "minimize"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction)
    for index, value in enumerate(objectives):
        params = {
            name: int(column[index]) if isinstance(distributions[name], IntDistribution) else column[index]
            for name, column in columns.items()
        }
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=value))
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks the evaluators experimental
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))


def importance_figure(values: Mapping[str, float]) -> str | None:
    if not values:
        return None
    names = list(values)[::-1]  # the most important at the top
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(6, 0.3 * len(names) + 1.0))
        bars = axes.barh(names, [values[n] for n in names], color=BLUE)
        axes.bar_label(bars, labels=[f"{values[n]:.0%}" for n in names], padding=3)
        axes.set_xlim(0, max(1.0, max(values.values()) * 1.15))
        axes.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        axes.set_xlabel("share of the objective's variance (fANOVA)")
        axes.grid(axis="y", visible=False)
        return _svg(figure, "importance of each hyperparameter")


def slice_figure(history: Mapping[str, Any], order: Sequence[str]) -> str | None:
    """The objective against each tuned hyperparameter (the most important first), one small plot each."""
    columns, objectives = tuned_values(history)
    names = [n for n in order if n in columns] or sorted(columns)
    names = names[:MAX_SLICES]
    if not names or len(objectives) < 2:
        return None
    maximize = history.get("objectiveType") == "Maximize"
    metric = str(history.get("objectiveMetric") or "objective")
    low, high, _ = objective_limits(objectives, maximize)
    shown = [min(max(v, low), high) for v in objectives]
    best = (max if maximize else min)(range(len(objectives)), key=objectives.__getitem__)
    per_row = 4
    rows = math.ceil(len(names) / per_row)
    with plt.rc_context(STYLE):
        figure, grid = plt.subplots(
            rows, per_row, figsize=(9, 2.3 * rows), sharey=True, squeeze=False, layout="constrained"
        )
        for axes, name in zip(grid.flat, names, strict=False):
            column = columns[name]
            axes.scatter(column, shown, s=16, color=BLUE, alpha=0.75)
            axes.scatter([column[best]], [shown[best]], s=40, color=ORANGE, zorder=3)
            positive = min(column) > 0
            if positive and max(column) / min(column) >= 100:
                axes.set_xscale("log")
            axes.set_xlabel(name)
            axes.set_ylim(low, high)
        for axes in grid.flat[len(names) :]:
            axes.set_visible(False)
        for axes in grid[:, 0]:
            axes.set_ylabel(metric)
        return _svg(figure, f"{metric} against each tuned hyperparameter")


def prediction_figure(points: Sequence[tuple[float, float]]) -> str | None:
    if not points:
        return None
    actual = [a for a, _ in points]
    predicted = [p for _, p in points]
    low = min(min(actual), min(predicted))
    high = max(max(actual), max(predicted))
    pad = (high - low) * 0.04 or 0.5
    low, high = low - pad, high + pad
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(4.6, 4.6))
        axes.plot([low, high], [low, high], color=GREY, linestyle="--", linewidth=1, label="y = x")
        axes.scatter(actual, predicted, s=6, color=BLUE, alpha=0.35, linewidths=0, label="test row")
        axes.set_xlim(low, high)
        axes.set_ylim(low, high)
        axes.set_aspect("equal", adjustable="box")
        axes.set_xlabel("actual (test label)")
        axes.set_ylabel("predicted")
        axes.legend(loc="upper left", fontsize=8, markerscale=2)
        return _svg(figure, "predicted against actual on the test set")
