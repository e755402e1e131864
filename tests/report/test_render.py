"""The report page: self-contained, the figures, the tables, the problems, everything escaped."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

import pytest

from report.collect import PredictionSet, RunData
from report.render import job_ticks, nice_ticks, objective_figure, render
from tests.report.conftest import PREFIX, TUNING_JOB, history, training_job

BEST = f"{TUNING_JOB}-003-0000abcd"


def run_data(**changes: Any) -> RunData:
    data = RunData(
        bucket="bucket-1",
        prefix=PREFIX,
        execution={
            "executionArn": "arn:aws:states:us-east-1:123456789012:execution:sm:nightly-1",
            "status": "SUCCEEDED",
        },
        output={"dataset": {"noiseFloorRmse": 1.0}, "model": {"modelName": BEST}},
        history=history(),
        test=PredictionSet(rows=3, rmse=1.25, mae=1.0, r2=0.9, points=[(1.0, 1.5), (2.0, 1.8), (3.0, 3.3)]),
    )
    for key, value in changes.items():
        setattr(data, key, value)
    return data


class _Parser(HTMLParser):
    """Collects what a browser would fetch or run."""

    def __init__(self) -> None:
        super().__init__()
        self.fetches: list[str] = []
        self.scripts = 0
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        for name, value in attrs:
            if name in ("src", "srcset") or (tag == "link" and name == "href"):
                self.fetches.append(str(value))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None


def parse(page: str) -> _Parser:
    parser = _Parser()
    parser.feed(page)
    return parser


def svgs(page: str) -> list[ET.Element]:
    # Our own output, parsed to check that it is well-formed SVG.
    return [ET.fromstring(match) for match in re.findall(r"<svg.*?</svg>", page, re.S)]  # noqa: S314


def test_page_is_self_contained_with_two_figures_that_are_valid_svg() -> None:
    page = render(run_data())
    parser = parse(page)

    assert page.startswith("<!doctype html>")
    assert parser.fetches == []
    assert parser.scripts == 0
    assert "@import" not in page and "url(" not in page
    objective, predictions = svgs(page)
    assert "best so far" in objective.get("aria-label", "")
    assert "predicted against actual" in predictions.get("aria-label", "")


def test_failed_training_job_shows_its_reason_in_the_table_and_the_figure() -> None:
    page = render(run_data())
    rows = {row[1].split()[0]: row for table in parse(page).tables for row in table if len(row) == 6}

    failed = rows[f"{TUNING_JOB}-002-0000abcd"]
    assert failed[2] == "Failed"
    assert failed[5] == "AlgorithmError: <out of memory>"
    # Escaped in the page, shown in the figure's tooltip.
    assert "AlgorithmError: &lt;out of memory&gt;" in page
    objective = svgs(page)[0]
    titles = [t.text or "" for t in objective.iter("{http://www.w3.org/2000/svg}title")]
    assert any("Failed: AlgorithmError: <out of memory>" in t for t in titles)
    assert rows[BEST][1].endswith("best")


def test_best_jobs_hyperparameters_and_the_test_metrics_are_tables() -> None:
    tables = parse(render(run_data())).tables
    values = {row[0]: row[1] for table in tables for row in table if len(row) == 2}

    assert values["eta"] == "0.3"
    assert values["max_depth"] == "3"
    assert values["RMSE"] == "1.25"
    assert values["R squared"] == "0.9"
    assert values["rows"] == "3"
    assert values["noise floor (RMSE of the noiseless target)"] == "1 (RMSE is 1.25x the floor)"
    assert values["source"] == "computed by the report from the labels and the predictions"
    assert values["run"] == "nightly-1-0123456789ab"
    assert values["status"] == "SUCCEEDED"


def test_metrics_file_and_quality_gate_are_shown_when_the_run_has_them() -> None:
    metrics = {
        "rows": 2000,
        "rmse": 1.4,
        "mae": 1.1,
        "r2": 0.93,
        "qualityGate": {"enabled": True, "threshold": 1.25, "source": "template", "noiseFloorRmse": 1.0},
    }
    values = {
        row[0]: row[1]
        for table in parse(render(run_data(metrics=metrics))).tables
        for row in table
        if len(row) == 2
    }

    assert values["RMSE"] == "1.4"
    assert values["rows"] == "2,000"
    assert values["quality gate"] == "failed (threshold 1.25, template source)"
    assert values["source"] == f"s3://bucket-1/{PREFIX}evaluation/metrics.json"


def test_problems_and_missing_parts_are_said_not_hidden() -> None:
    page = render(
        run_data(
            history=None, test=None, problems=["no predictions (*.out): the batch transform did not run"]
        )
    )

    assert '<div class="problems">' in page
    assert "no predictions (*.out)" in page
    assert "No training job history for this run." in page
    assert "No predictions to show." in page


def test_text_from_the_run_is_escaped() -> None:
    hostile = history()
    hostile["trainingJobs"][0]["name"] = "<script>alert(1)</script>"
    hostile["trainingJobs"][0]["hyperparameters"] = {"<b>": '"><img src=x>'}
    hostile["bestTrainingJobName"] = "<script>alert(1)</script>"

    page = render(run_data(history=hostile, problems=["<iframe>"]))
    parser = parse(page)

    assert parser.scripts == 0
    assert parser.fetches == []
    assert "&lt;script&gt;" in page and "&lt;iframe&gt;" in page


SVG = "{http://www.w3.org/2000/svg}"


def _figure(objective_type: str) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """The job points and the best-so-far line of the objective figure, in SVG coordinates."""
    document = history()
    document["objectiveType"] = objective_type
    figure = ET.fromstring(objective_figure(document))  # noqa: S314 -- our own output
    circles = [(float(c.get("cx", 0)), float(c.get("cy", 0))) for c in figure.iter(f"{SVG}circle")]
    (line,) = figure.iter(f"{SVG}polyline")
    points = [(float(x), float(y)) for x, y in (p.split(",") for p in line.get("points", "").split())]
    return circles, points


def test_best_so_far_of_a_minimized_objective_is_a_step_line_down_to_the_best_job() -> None:
    circles, line = _figure("Minimize")

    assert len(circles) == 3  # 1.8, 1.2, 1.5; the failed job is a cross, not a point
    # SVG y grows downwards: a falling objective is a growing y, and the line never turns back.
    assert all(b[1] >= a[1] for a, b in itertools.pairwise(line))
    assert line[0] == circles[0]
    assert line[-1][1] == circles[1][1]  # the best job (1.2) ends the line, the later 1.5 does not move it
    assert line[-1][0] == circles[2][0]


def test_best_so_far_of_a_maximized_objective_keeps_the_highest_value() -> None:
    circles, line = _figure("Maximize")

    # 1.8 is the highest: the line stays at the first job's height.
    assert {y for _, y in line} == {circles[0][1]}


def test_no_objective_at_all_says_so() -> None:
    document = history()
    document["trainingJobs"] = [training_job(1, "Failed", failureReason="x")]

    assert "No training job reported an objective value" in objective_figure(document)


@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (1.17, 1.93), (-3.0, 250.0), (5.0, 5.0), (1e-6, 3e-6)])
def test_axis_ticks_are_round_and_cover_the_data(low: float, high: float) -> None:
    ticks = nice_ticks(low, high)

    assert ticks[0] <= low and ticks[-1] >= high
    assert 2 <= len(ticks) <= 12
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1


@pytest.mark.parametrize(
    ("jobs", "expected"), [(1, [1.0]), (4, [1.0, 2.0, 3.0, 4.0]), (100, [1.0, *range(10, 101, 10)])]
)
def test_job_ticks_start_at_one_and_stay_few(jobs: int, expected: list[float]) -> None:
    assert job_ticks(jobs) == expected
