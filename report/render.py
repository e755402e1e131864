"""The report as one self-contained HTML file: inline CSS and SVG figures, no script, nothing fetched.

The figures are drawn as SVG by hand, so the report needs no plotting library (and nothing of it could
end up in a Lambda artifact): the objective of each training job in the order they ran with the best so
far, and predicted against actual on the test set with the line y = x. Each point carries a tooltip.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from report.collect import RunData

WIDTH, HEIGHT = 640, 360
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 16, 16, 44
FAILED_STATUSES = ("Failed", "Stopped")


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


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


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round numbers covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high <= low:
        low, high = low - 0.5, high + 0.5
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def job_ticks(jobs: int) -> list[float]:
    """1 and round job numbers up to ``jobs`` (at most about ten)."""
    step = next(m for m in (1, 2, 5, 10, 20, 25, 50) if jobs / m <= 10)
    return [1.0, *(float(n) for n in range(step, jobs + 1, step) if n > 1)]


class Axes:
    """Maps data to SVG coordinates and draws the frame, the grid and the tick labels."""

    def __init__(
        self,
        x_ticks: list[float],
        y_ticks: list[float],
        x_label: str,
        y_label: str,
        x_range: tuple[float, float] | None = None,
    ) -> None:
        self.x0, self.x1 = x_range or (x_ticks[0], x_ticks[-1])
        self.y0, self.y1 = y_ticks[0], y_ticks[-1]
        self.x_ticks, self.y_ticks = x_ticks, y_ticks
        self.x_label, self.y_label = x_label, y_label

    def x(self, value: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return MARGIN_LEFT + (value - self.x0) / span * (WIDTH - MARGIN_LEFT - MARGIN_RIGHT)

    def y(self, value: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return HEIGHT - MARGIN_BOTTOM - (value - self.y0) / span * (HEIGHT - MARGIN_TOP - MARGIN_BOTTOM)

    def frame(self) -> list[str]:
        parts = []
        for tick in self.y_ticks:
            y = self.y(tick)
            parts.append(
                f'<line class="grid" x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{WIDTH - MARGIN_RIGHT}" '
                f'y2="{y:.1f}"/>'
            )
            parts.append(
                f'<text class="tick" x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                f"{fmt(tick, 3)}</text>"
            )
        for tick in self.x_ticks:
            x = self.x(tick)
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" text-anchor="middle">'
                f"{fmt(tick, 3)}</text>"
            )
        parts.append(
            f'<rect class="frame" x="{MARGIN_LEFT}" y="{MARGIN_TOP}" '
            f'width="{WIDTH - MARGIN_LEFT - MARGIN_RIGHT}" '
            f'height="{HEIGHT - MARGIN_TOP - MARGIN_BOTTOM}"/>'
        )
        parts.append(
            f'<text class="label" x="{(MARGIN_LEFT + WIDTH - MARGIN_RIGHT) / 2:.0f}" y="{HEIGHT - 6}" '
            f'text-anchor="middle">{esc(self.x_label)}</text>'
        )
        middle = (MARGIN_TOP + HEIGHT - MARGIN_BOTTOM) / 2
        parts.append(
            f'<text class="label" x="14" y="{middle:.0f}" text-anchor="middle" '
            f'transform="rotate(-90 14 {middle:.0f})">{esc(self.y_label)}</text>'
        )
        return parts


def svg(parts: Sequence[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{esc(title)}">' + "".join(parts) + "</svg>"
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def objective_figure(history: Mapping[str, Any]) -> str:
    """Each training job's objective in the order they were created, the best so far as a step line;
    jobs without an objective (failed, stopped early) as crosses on the bottom edge."""
    jobs = history.get("trainingJobs") or []
    metric = history.get("objectiveMetric") or "objective"
    maximize = history.get("objectiveType") == "Maximize"
    values = [_number(job.get("objectiveValue")) for job in jobs]
    known = [v for v in values if v is not None]
    if not known:
        return '<p class="empty">No training job reported an objective value.</p>'
    axes = Axes(
        job_ticks(len(jobs)),
        nice_ticks(min(known), max(known)),
        "training job (in the order they started)",
        str(metric),
        x_range=(0.5, len(jobs) + 0.5),
    )
    parts = axes.frame()
    below_points = len(parts)
    best: float | None = None
    steps: list[str] = []
    for index, (job, value) in enumerate(zip(jobs, values, strict=True), start=1):
        x = axes.x(index)
        name = esc(job.get("name"))
        if value is None:
            reason = esc(job.get("failureReason") or "no objective")
            y = HEIGHT - MARGIN_BOTTOM - 6
            parts.append(
                f'<g class="failed"><title>#{index} {name}: {esc(job.get("status"))}: {reason}</title>'
                f'<path d="M{x - 4:.1f},{y - 4:.1f}l8,8m0,-8l-8,8"/></g>'
            )
            continue
        if best is None or (value > best if maximize else value < best):
            if best is not None:
                steps.append(f"{x:.1f},{axes.y(best):.1f}")
            best = value
        steps.append(f"{x:.1f},{axes.y(best):.1f}")
        parts.append(
            f'<circle class="job" cx="{x:.1f}" cy="{axes.y(value):.1f}" r="4">'
            f"<title>#{index} {name}: {esc(metric)} = {fmt(value, 6)}</title></circle>"
        )
    if len(steps) > 1:
        parts.insert(below_points, f'<polyline class="best" points="{" ".join(steps)}"/>')
    return svg(parts, f"{metric} of each training job and the best so far")


def prediction_figure(points: Sequence[tuple[float, float]]) -> str:
    if not points:
        return '<p class="empty">No predictions to show.</p>'
    low = min(min(a, p) for a, p in points)
    high = max(max(a, p) for a, p in points)
    ticks = nice_ticks(low, high)
    axes = Axes(ticks, ticks, "actual (test label)", "predicted")
    parts = axes.frame()
    parts.append(
        f'<line class="identity" x1="{axes.x(ticks[0]):.1f}" y1="{axes.y(ticks[0]):.1f}" '
        f'x2="{axes.x(ticks[-1]):.1f}" y2="{axes.y(ticks[-1]):.1f}"><title>y = x</title></line>'
    )
    # One path of tiny circles keeps thousands of points light to draw.
    radius = 2.0
    dots = "".join(
        f"M{axes.x(a) - radius:.1f},{axes.y(p):.1f}a{radius},{radius} 0 1,0 {2 * radius},0"
        f"a{radius},{radius} 0 1,0 {-2 * radius},0"
        for a, p in points
    )
    parts.append(f'<path class="point" d="{dots}"/>')
    return svg(parts, "predicted against actual on the test set")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], css: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _seconds(job: Mapping[str, Any]) -> str:
    try:
        start = dt.datetime.fromisoformat(str(job.get("startTime") or job.get("creationTime")))
        end = dt.datetime.fromisoformat(str(job.get("endTime")))
    except ValueError:
        return ""
    return f"{(end - start).total_seconds():.0f} s"


def best_job(data: RunData) -> Mapping[str, Any] | None:
    history = data.history or {}
    jobs = history.get("trainingJobs") or []
    name = history.get("bestTrainingJobName") or (data.output.get("tuning") or {}).get("bestTrainingJobName")
    for job in jobs:
        if job.get("name") == name:
            return job
    return None


def hyperparameter_table(data: RunData) -> str:
    job = best_job(data)
    tuned = (job or {}).get("hyperparameters") or (data.output.get("tuning") or {}).get("hyperparameters")
    if not tuned:
        return '<p class="empty">No best training job: no tuned hyperparameters to show.</p>'
    rows = [(f"<code>{esc(k)}</code>", esc(fmt(v, 6))) for k, v in sorted(tuned.items())]
    return _table(("hyperparameter", "value"), rows, "narrow")


def metrics_rows(data: RunData) -> list[tuple[str, str]]:
    """Test metrics: Evaluate Model's file when the run has one, else computed here."""
    source = data.metrics or {}
    test = data.test
    rows_value = source.get("rows", test.rows if test else None)
    rmse = _number(source.get("rmse", test.rmse if test else None))
    mae = _number(source.get("mae", test.mae if test else None))
    r2 = _number(source.get("r2", test.r2 if test else None))
    gate = source.get("qualityGate") if isinstance(source.get("qualityGate"), Mapping) else {}
    floor = _number(gate.get("noiseFloorRmse")) or _number(
        (data.output.get("dataset") or {}).get("noiseFloorRmse")
    )
    rows = [
        ("rows", esc(fmt(rows_value))),
        ("RMSE", esc(fmt(rmse))),
        ("MAE", esc(fmt(mae))),
        ("R squared", esc(fmt(r2))),
        (
            "noise floor (RMSE of the noiseless target)",
            esc(fmt(floor))
            + (f" (RMSE is {rmse / floor:.2f}x the floor)" if floor and rmse is not None else "")
            if floor
            else "unknown (your own data)",
        ),
    ]
    if gate:
        threshold = gate.get("threshold")
        state = (
            "off"
            if not gate.get("enabled")
            else ("passed" if rmse is not None and threshold is not None and rmse <= threshold else "failed")
        )
        rows.append(
            (
                "quality gate",
                esc(f"{state} (threshold {fmt(threshold)}, {gate.get('source') or 'no'} source)"),
            )
        )
    origin = (
        f"<code>{esc(data.uri(data.prefix + 'evaluation/metrics.json'))}</code>"
        if data.metrics
        else "computed by the report from the labels and the predictions"
    )
    rows.append(("source", origin))
    return rows


def jobs_table(history: Mapping[str, Any]) -> str:
    best = history.get("bestTrainingJobName")
    rows = []
    for index, job in enumerate(history.get("trainingJobs") or [], start=1):
        status = esc(job.get("status"))
        css = "bad" if job.get("status") in FAILED_STATUSES else ""
        rows.append(
            (
                str(index),
                f"<code>{esc(job.get('name'))}</code>" + (" <b>best</b>" if job.get("name") == best else ""),
                f'<span class="{css}">{status}</span>',
                esc(fmt(_number(job.get("objectiveValue")), 6)),
                esc(_seconds(job)),
                f'<span class="bad">{esc(job.get("failureReason"))}</span>'
                if job.get("failureReason")
                else "",
            )
        )
    return _table(("#", "training job", "status", "objective", "duration", "failure reason"), rows)


def _shorten(text: Any, limit: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _link(label: str, url: str | None, text: str | None = None) -> tuple[str, str]:
    shown = esc(text if text is not None else url)
    return label, (
        f'<a href="{esc(url)}">{shown}</a>' if url and url.startswith("https://") else f"<code>{shown}</code>"
    )


def names_rows(data: RunData, links: Mapping[str, str]) -> list[tuple[str, str]]:
    execution = data.execution
    tuning = data.output.get("tuning") or {}
    history = data.history or {}
    rows = [
        ("run", f"<code>{esc(data.run_name)}</code>"),
        _link("execution", links.get("execution"), execution.get("executionArn") or execution.get("name")),
        ("status", esc(execution.get("status") or "unknown")),
        ("started", esc(execution.get("startDate"))),
        ("stopped", esc(execution.get("stopDate"))),
        _link(
            "tuning job", links.get("tuningJob"), history.get("tuningJobName") or tuning.get("tuningJobName")
        ),
        (
            "best training job",
            f"<code>{esc(history.get('bestTrainingJobName') or tuning.get('bestTrainingJobName'))}</code>",
        ),
        ("model", f"<code>{esc((data.output.get('model') or {}).get('modelName'))}</code>"),
        _link("objects", links.get("objects"), data.uri(data.prefix)),
    ]
    if execution.get("error"):
        rows.append(
            (
                "error",
                f'<span class="bad">{esc(execution.get("error"))}: '
                f"{esc(_shorten(execution.get('cause'), 600))}</span>",
            )
        )
    return [(label, value) for label, value in rows if value not in ("", "<code></code>")]


STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2731}
body{margin:2rem auto;max-width:70rem;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}
h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d5dbe1}
.sub{color:#5b6670;margin-top:0}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(30rem,1fr));gap:1.5rem}
table{border-collapse:collapse;margin:.5rem 0}
th,td{padding:.25rem .7rem;border-bottom:1px solid #e3e7eb;text-align:left;vertical-align:top}
th{background:#f3f5f7}
table.narrow td:last-child{font-variant-numeric:tabular-nums}
code{font-size:.9em}
.bad{color:#b3261e}
.problems{background:#fdf1f0;border:1px solid #f0c4c0;padding:.5rem 1rem;border-radius:4px}
.empty{color:#5b6670;font-style:italic}
svg{width:100%;height:auto;max-width:{w}
px;background:#fff}
svg .grid{stroke:#e3e7eb}
svg .frame{fill:none;stroke:#9aa5b1}
svg .tick{font-size:11px;fill:#5b6670}
svg .label{font-size:12px;fill:#1d2731}
svg .job{fill:#1f6feb;fill-opacity:.8}
svg .best{fill:none;stroke:#d97706;stroke-width:2}
svg .failed path{stroke:#b3261e;stroke-width:2}
svg .identity{stroke:#9aa5b1;stroke-dasharray:5 4}
svg .point{fill:#1f6feb;fill-opacity:.35}
.legend span{margin-right:1.2rem}
.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-1px}
""".replace("{w}", str(WIDTH))


def render(data: RunData, links: Mapping[str, str] | None = None, generated: str | None = None) -> str:
    """The report's HTML."""
    links = links or {}
    history = data.history or {}
    test = data.test
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Tuning report: {esc(data.run_name)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Tuning report: {esc(data.run_name)}</h1>",
        '<p class="sub">XGBoost tuned by SageMaker hyperparameter tuning, driven by Step Functions. '
        f"Generated {esc(generated or '')}</p>",
    ]
    if data.problems:
        items = "".join(f"<li>{esc(problem)}</li>" for problem in data.problems)
        parts.append(f'<div class="problems"><b>Problems</b><ul>{items}</ul></div>')
    parts.append('<div class="grid2"><section><h2>Run</h2>')
    parts.append(_table(("", ""), [(esc(k), v) for k, v in names_rows(data, links)], "narrow"))
    parts.append("</section><section><h2>Test metrics</h2>")
    parts.append(_table(("metric", "value"), [(esc(k), v) for k, v in metrics_rows(data)], "narrow"))
    parts.append("</section></div>")

    jobs = history.get("trainingJobs") or []
    counts: dict[str, int] = {}
    for job in jobs:
        counts[str(job.get("status"))] = counts.get(str(job.get("status")), 0) + 1
    summary = ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items()))
    parts.append(f"<h2>Objective of each training job ({esc(summary or 'no history')})</h2>")
    if data.history is None:
        parts.append('<p class="empty">No training job history for this run.</p>')
    else:
        parts.append(
            '<p class="legend"><span><i class="swatch" style="background:#1f6feb"></i>training job</span>'
            '<span><i class="swatch" style="background:#d97706"></i>best so far</span>'
            '<span><i class="swatch" style="background:#b3261e"></i>no objective (failed or stopped)</span>'
            "</p>"
        )
        parts.append(objective_figure(history))
    parts.append('<div class="grid2"><section>')
    rows_text = f"{test.rows:,} test rows" if test else "no test set"
    shown = f", {len(test.points):,} shown" if test and len(test.points) < test.rows else ""
    parts.append(f"<h2>Predicted against actual ({esc(rows_text + shown)})</h2>")
    parts.append(prediction_figure(test.points if test else []))
    parts.append("</section><section><h2>Tuned hyperparameters of the best training job</h2>")
    parts.append(hyperparameter_table(data))
    parts.append("</section></div>")
    if jobs:
        parts.append("<h2>Training jobs</h2>")
        parts.append(jobs_table(history))
    parts.append("</body></html>")
    return "\n".join(parts)
