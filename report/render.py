"""The report as one self-contained HTML file: the page from Jinja2 templates (``report/templates/``), the
figures from matplotlib as inline SVG (``report/figures.py``); no script, nothing fetched.

Every value from the run is escaped by the template (autoescape); only the figures' SVG, drawn here, is
inserted as markup.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from report import figures
from report.causes import readable_cause
from report.collect import RunData

TEMPLATES = Path(__file__).parent / "templates"
FAILED_STATUSES = ("Failed", "Stopped")
# What each part of the report needs, and the state of the workflow that makes it.
MADE_BY = {
    "history": "Extract Model Path writes the training job history",
    "predictions": "the Batch transform state writes the predictions",
    "metrics": "Evaluate Model writes the test metrics",
}

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "j2"]),
    keep_trailing_newline=True,
)


def fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return "n/a" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e6 else f"{value:,.0f}"
    try:
        return f"{float(value):.{digits}g}"
    except (TypeError, ValueError):
        return str(value)


def timestamp(value: Any) -> str:
    """An ISO timestamp (or datetime) to the second, in UTC."""
    if value in (None, ""):
        return ""
    try:
        moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: Any) -> float | None:
    return figures._number(value)


def _seconds(job: Mapping[str, Any]) -> str:
    try:
        start = dt.datetime.fromisoformat(str(job.get("startTime") or job.get("creationTime")))
        end = dt.datetime.fromisoformat(str(job.get("endTime")))
    except ValueError:
        return ""
    return f"{(end - start).total_seconds():.0f} s"


def best_job(data: RunData) -> Mapping[str, Any] | None:
    history = data.history or {}
    name = history.get("bestTrainingJobName") or (data.output.get("tuning") or {}).get("bestTrainingJobName")
    return next((job for job in history.get("trainingJobs") or [] if job.get("name") == name), None)


def count_words(jobs: list[Mapping[str, Any]]) -> str:
    """'16 training jobs: 12 completed, 4 stopped early by the tuning job'."""
    if not jobs:
        return "no training jobs"
    counts: dict[str, int] = {}
    for job in jobs:
        counts[str(job.get("status"))] = counts.get(str(job.get("status")), 0) + 1
    words = {"Stopped": "stopped early by the tuning job", "InProgress": "still running"}
    parts = [f"{n} {words.get(status, status.lower())}" for status, n in sorted(counts.items())]
    return f"{len(jobs)} training job{'s' if len(jobs) != 1 else ''}: " + ", ".join(parts)


def _code(value: Any) -> Markup | str:
    return "" if value in (None, "") else Markup("<code>{}</code>").format(value)


def _link(url: str | None, text: Any) -> Markup | str:
    if text in (None, ""):
        return ""
    if url and url.startswith("https://"):
        return Markup('<a href="{}">{}</a>').format(url, text)
    return _code(text)


def run_rows(data: RunData, links: Mapping[str, str]) -> list[tuple[str, Any]]:
    execution = data.execution
    tuning = data.output.get("tuning") or {}
    history = data.history or {}
    rows: list[tuple[str, Any]] = [
        ("run", _code(data.run_name)),
        ("execution", _link(links.get("execution"), execution.get("executionArn") or execution.get("name"))),
        ("started", timestamp(execution.get("startDate"))),
        ("stopped", timestamp(execution.get("stopDate"))),
        (
            "tuning job",
            _link(links.get("tuningJob"), history.get("tuningJobName") or tuning.get("tuningJobName")),
        ),
        ("best training job", _code(history.get("bestTrainingJobName") or tuning.get("bestTrainingJobName"))),
        ("model", _code((data.output.get("model") or {}).get("modelName"))),
        ("model registry", registry_entry(data.output.get("registry"))),
        ("objects", _link(links.get("objects"), data.uri(data.prefix))),
    ]
    if execution.get("error"):
        rows.append(
            (
                "error",
                Markup('<span class="bad"><b>{}</b>: {}</span>').format(
                    execution.get("error"), readable_cause(execution.get("cause"))
                ),
            )
        )
    return [(label, value) for label, value in rows if value != ""]


def registry_entry(registry: Any) -> Any:
    """The run's model package and its approval status; empty when the run did not reach the registry."""
    if not isinstance(registry, Mapping):
        return ""
    if not registry.get("modelPackageArn"):
        return "not registered (ModelRegistry=Disabled)" if registry.get("registration") == "Disabled" else ""
    return Markup("{} ({})").format(_code(registry["modelPackageArn"]), registry.get("approvalStatus"))


def metric_rows(data: RunData) -> list[tuple[str, str]]:
    """Test metrics: Evaluate Model's file when the run has one, else computed here; empty without either."""
    source = data.metrics or {}
    test = data.test
    if not source and not test:
        return []
    rmse = _number(source.get("rmse", test.rmse if test else None))
    gate = source.get("qualityGate") if isinstance(source.get("qualityGate"), Mapping) else {}
    floor = _number(gate.get("noiseFloorRmse")) or _number(
        (data.output.get("dataset") or {}).get("noiseFloorRmse")
    )
    rows = [
        ("rows", fmt(source.get("rows", test.rows if test else None))),
        ("RMSE", fmt(rmse)),
        ("MAE", fmt(_number(source.get("mae", test.mae if test else None)))),
        ("R squared", fmt(_number(source.get("r2", test.r2 if test else None)))),
        (
            "noise floor (RMSE of the noiseless target)",
            f"{fmt(floor)} (RMSE is {rmse / floor:.2f}x the floor)"
            if floor and rmse is not None
            else "none: your own data has no known noise",
        ),
    ]
    if gate:
        threshold = _number(gate.get("threshold"))
        basis = gate.get("basis")
        if not gate.get("enabled"):
            verdict = f"off ({basis})" if basis else "off"
        elif rmse is not None and threshold is not None:
            passed = rmse <= threshold
            verdict = (
                f"{'passed' if passed else 'failed'}: RMSE {fmt(rmse)} is {'at most' if passed else 'above'} "
            )
            verdict += f"the threshold {fmt(threshold)}" + (f" ({basis})" if basis else "")
        else:
            verdict = "unknown: no RMSE or no threshold"
        rows.append(("quality gate", verdict))
    rows.append(
        (
            "source",
            data.uri(data.prefix + "evaluation/metrics.json")
            if data.metrics
            else "computed by the report from the labels and the predictions",
        )
    )
    return rows


def job_rows(history: Mapping[str, Any]) -> list[dict[str, Any]]:
    best = history.get("bestTrainingJobName")
    return [
        {
            "index": index,
            "name": job.get("name"),
            "best": job.get("name") == best,
            "status": job.get("status"),
            "bad": job.get("status") in FAILED_STATUSES,
            "objective": fmt(_number(job.get("objectiveValue")), 6)
            if job.get("objectiveValue") is not None
            else "",
            "duration": _seconds(job),
            "reason": job.get("failureReason") or "",
        }
        for index, job in enumerate(history.get("trainingJobs") or [], start=1)
    ]


def _why_missing(data: RunData, part: str) -> str:
    """Why a part is missing: 'the execution ended with States.TaskFailed before Evaluate Model writes...'."""
    error = data.execution.get("error")
    made_by = MADE_BY[part]
    if error and data.execution.get("status") != "SUCCEEDED":
        return f"the execution ended with {error} before {made_by}"
    return f"not found in the run's objects ({made_by})"


def render(data: RunData, links: Mapping[str, str] | None = None, generated: str | None = None) -> str:
    """The report's HTML."""
    links = links or {}
    history = data.history or {}
    jobs = list(history.get("trainingJobs") or [])
    test = data.test
    tuned = (best_job(data) or {}).get("hyperparameters") or (data.output.get("tuning") or {}).get(
        "hyperparameters"
    )
    importance = figures.importances(history) if history else {}
    values = [v for v in (_number(j.get("objectiveValue")) for j in jobs) if v is not None]
    clipped = bool(values) and figures.objective_limits(values, history.get("objectiveType") == "Maximize")[2]
    drawn = {
        "objective": figures.objective_figure(history) if history else None,
        "importance": figures.importance_figure(importance),
        "slices": figures.slice_figure(history, list(importance)) if importance else None,
        "predictions": figures.prediction_figure(test.points) if test else None,
    }
    status = str(data.execution.get("status") or "unknown")
    problems = list(data.problems)
    if data.history is None:
        problems.append(f"No training job history: {_why_missing(data, 'history')}.")
    if test is None:
        # Said once, with the reason when the run's end explains it.
        problems = [p for p in problems if not p.lower().startswith("no predictions")]
        problems.append(f"No predictions: {_why_missing(data, 'predictions')}.")
    context = {
        "run_name": data.run_name,
        "status": status,
        "status_class": {"SUCCEEDED": "ok", "FAILED": "bad", "TIMED_OUT": "bad", "ABORTED": "bad"}.get(
            status, ""
        ),
        "generated": generated or timestamp(dt.datetime.now(dt.UTC)),
        "problems": problems,
        "run_rows": run_rows(data, links),
        "metric_rows": metric_rows(data),
        "metrics_missing": f"No test metrics: {_why_missing(data, 'metrics')}.",
        "job_summary": count_words(jobs) if data.history is not None else "no training job history",
        "objective_missing": "No training job reported an objective value."
        if data.history is not None
        else f"No training job history: {_why_missing(data, 'history')}.",
        "importance_missing": "Needs at least three training jobs with an objective and a hyperparameter "
        "that varied among them."
        if data.history is not None
        else "No training job history to judge the hyperparameters by.",
        "clipped": clipped,
        "prediction_summary": (
            f"{test.rows:,} test rows"
            + (f", {len(test.points):,} of them shown" if len(test.points) < test.rows else "")
            if test
            else ""
        ),
        "predictions_missing": f"No predictions to show: {_why_missing(data, 'predictions')}.",
        "hyperparameters": [(k, fmt(v, 6)) for k, v in sorted(tuned.items())] if tuned else [],
        "hyperparameters_missing": "No best training job: no tuned hyperparameters to show.",
        "jobs": job_rows(history),
        # The figures are matplotlib's own SVG (text from the run is escaped by matplotlib).
        "figures": {name: Markup(svg) if svg else None for name, svg in drawn.items()},  # noqa: S704
    }
    return _environment.get_template("report.html.j2").render(context)
