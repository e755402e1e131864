"""The report page: self-contained, every figure drawn, the tables, the problems, everything escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

import pytest

from report import figures
from report.collect import PredictionSet, RunData
from report.render import count_words, render, timestamp
from tests.report.conftest import PREFIX, TUNING_JOB, history, training_job

BEST = f"{TUNING_JOB}-003-0000abcd"
SVG = "{http://www.w3.org/2000/svg}"
FIGURES = ("objective", "importance", "predictions")


def run_data(**changes: Any) -> RunData:
    data = RunData(
        bucket="bucket-1",
        prefix=PREFIX,
        execution={
            "executionArn": "arn:aws:states:us-east-1:123456789012:execution:sm:nightly-1",
            "status": "SUCCEEDED",
            "startDate": "2026-11-28T10:00:00.123456+00:00",
            "stopDate": "2026-11-28T10:25:07.987654+00:00",
        },
        output={"dataset": {"noiseFloorRmse": 1.0}, "model": {"modelName": BEST}},
        history=history(),
        test=PredictionSet(rows=3, rmse=1.25, mae=1.0, r2=0.9, points=[(1.0, 1.5), (2.0, 1.8), (3.0, 3.3)]),
    )
    for key, value in changes.items():
        setattr(data, key, value)
    return data


class _Parser(HTMLParser):
    """Collects what a browser would fetch or run, the tables and the sections' figures."""

    def __init__(self) -> None:
        super().__init__()
        self.fetches: list[str] = []
        self.scripts = 0
        self.tables: list[list[list[str]]] = []
        self.header_rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        for name, value in attrs:
            if name in ("src", "srcset") or (tag == "link" and name == "href"):
                self.fetches.append(str(value))
            if name in ("href", "xlink:href") and value and not value.startswith(("#", "https://")):
                self.fetches.append(value)
        if tag == "table":
            self.tables.append([])
        elif tag == "thead":
            self._in_head = True
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
        elif tag == "thead":
            self._in_head = False
            self.header_rows.append(self.tables[-1][-1])


def parse(page: str) -> _Parser:
    parser = _Parser()
    parser.feed(page)
    return parser


def section_svgs(page: str) -> dict[str, list[ET.Element]]:
    """The SVG figures of each section, parsed (well-formed XML or the test fails)."""
    found = {}
    for name, body in re.findall(r'<section id="(\w+)">(.*?)</section>', page, re.S):
        # Our own output, parsed to check that it is well-formed SVG.
        found[name] = [ET.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", body, re.S)]  # noqa: S314
    return found


def facts(page: str) -> dict[str, str]:
    return {row[0]: row[1] for table in parse(page).tables for row in table if len(row) == 2}


def test_page_is_self_contained_and_holds_every_figure_non_empty() -> None:
    page = render(run_data())
    parser = parse(page)

    assert page.startswith("<!doctype html>")
    assert parser.fetches == []
    assert parser.scripts == 0
    assert "@import" not in page
    assert re.findall(r"url\((?!#)", page) == []  # only references inside the page's own SVG
    found = section_svgs(page)
    for name in FIGURES:
        assert found.get(name), f"no figure in section {name}"
        for svg in found[name]:
            assert len(list(svg.iter(f"{SVG}path"))) > 5, f"an empty figure in {name}"
            assert [t for t in svg.iter(f"{SVG}text") if (t.text or "").strip()], f"no text in {name}"
    # The importance section has the bar chart and the objective against each hyperparameter.
    assert len(found["importance"]) == 2


def test_no_empty_header_row_no_internal_names_timestamps_to_the_second() -> None:
    metrics = {
        "rows": 2000,
        "rmse": 1.1,
        "qualityGate": {
            "enabled": True,
            "threshold": 1.5,
            "source": "noiseFloor",
            "noiseFloorRmse": 1.0,
            "basis": "1.5 x noise floor 1",
        },
    }
    page = render(run_data(metrics=metrics))
    parser = parse(page)

    assert all(any(cell for cell in row) for row in parser.header_rows)
    assert "noiseFloor" not in re.sub(r"<svg.*?</svg>", "", page, flags=re.S)
    values = facts(page)
    assert values["started"] == "2026-11-28 10:00:00 UTC"
    assert values["stopped"] == "2026-11-28 10:25:07 UTC"
    assert values["quality gate"] == "passed: RMSE 1.1 is at most the threshold 1.5 (1.5 x noise floor 1)"


def test_failed_training_job_shows_its_reason_in_the_table() -> None:
    page = render(run_data())
    rows = {row[1].split()[0]: row for table in parse(page).tables for row in table if len(row) == 6}

    failed = rows[f"{TUNING_JOB}-002-0000abcd"]
    assert failed[2] == "Failed"
    assert failed[5] == "AlgorithmError: <out of memory>"
    assert "AlgorithmError: &lt;out of memory&gt;" in page
    assert rows[BEST][1].endswith("best")


def test_best_jobs_hyperparameters_and_the_test_metrics_are_tables() -> None:
    values = facts(render(run_data()))

    assert values["eta"] == "0.3"
    assert values["max_depth"] == "3"
    assert values["RMSE"] == "1.25"
    assert values["R squared"] == "0.9"
    assert values["rows"] == "3"
    assert values["noise floor (RMSE of the noiseless target)"] == "1 (RMSE is 1.25x the floor)"
    assert values["source"] == "computed by the report from the labels and the predictions"
    assert values["run"] == "nightly-1-0123456789ab"


def test_metrics_file_and_a_failed_quality_gate_are_shown() -> None:
    metrics = {
        "rows": 2000,
        "rmse": 1.4,
        "mae": 1.1,
        "r2": 0.93,
        "qualityGate": {"enabled": True, "threshold": 1.25, "source": "template", "noiseFloorRmse": 1.0},
    }
    values = facts(render(run_data(metrics=metrics)))

    assert values["RMSE"] == "1.4"
    assert values["rows"] == "2,000"
    assert values["quality gate"] == "failed: RMSE 1.4 is above the threshold 1.25"
    assert values["source"] == f"s3://bucket-1/{PREFIX}evaluation/metrics.json"


def test_failed_tuning_run_says_what_is_missing_and_why() -> None:
    failed = history(best=None)
    for job in failed["trainingJobs"]:
        job.update(status="Failed", objectiveValue=None, failureReason="AlgorithmError: out of memory")
    execution = {
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:sm:nightly-1",
        "status": "FAILED",
        "error": "States.TaskFailed",
        "cause": '{"HyperParameterTuningJobName": "nightly-1", "HyperParameterTuningJobStatus": "Failed", '
        '"FailureReason": "No training job succeeded after 5 attempts", "TrainingJobDefinition": {}}',
    }
    page = render(run_data(history=failed, test=None, output={}, execution=execution))

    values = facts(page)
    assert values["error"] == (
        "States.TaskFailed: tuning job nightly-1 Failed: No training job succeeded after 5 attempts"
    )
    assert "No predictions: the execution ended with States.TaskFailed before the Batch transform" in page
    assert "No test metrics: the execution ended with States.TaskFailed before Evaluate Model" in page
    assert "No training job reported an objective value." in page
    assert '<span class="status bad">FAILED</span>' in page


def test_problems_and_missing_parts_are_said_not_hidden_and_only_once() -> None:
    problems = ["no predictions (*.out): the batch transform did not run", "an unreadable metrics file"]
    page = render(run_data(history=None, test=None, problems=problems))

    assert '<div class="problems">' in page
    assert "an unreadable metrics file" in page
    assert "No training job history: not found in the run&#39;s objects" in page
    # The collector's line about predictions gives way to the one saying why they are missing.
    assert "no predictions (*.out)" not in page
    assert page.count("No predictions: not found in the run&#39;s objects") == 1
    assert "No predictions to show" in page


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


def test_job_counts_are_words() -> None:
    jobs = [
        training_job(1),
        training_job(2, "Stopped"),
        training_job(3, "Stopped"),
        training_job(4, "Failed"),
    ]

    assert count_words(jobs) == "4 training jobs: 1 completed, 1 failed, 2 stopped early by the tuning job"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2026-11-28T10:00:00.5+01:00", "2026-11-28 09:00:00 UTC"), ("", ""), ("not a time", "not a time")],
)
def test_timestamps_are_shown_to_the_second_in_utc(value: str, expected: str) -> None:
    assert timestamp(value) == expected


def test_objective_axis_keeps_the_best_jobs_readable_when_a_few_are_far_off() -> None:
    values = [1.10, 1.12, 1.15, 1.2, 1.3, 1.25, 9.0, 14.0]

    low, high, clipped = figures.objective_limits(values, maximize=False)

    assert clipped
    assert low < 1.10 and high < 9.0  # the far-off jobs are drawn at the edge, not inside the range
    assert high - low < 2.0
    # Without far-off jobs nothing is clipped and every job is inside the range.
    low, high, clipped = figures.objective_limits(values[:6], maximize=False)
    assert not clipped and low < 1.10 and high > 1.3


def test_importance_finds_the_hyperparameter_that_moves_the_objective() -> None:
    jobs = []
    for index in range(1, 25):
        depth = 1 + index % 8
        eta = 0.05 + (index * 7 % 11) / 20
        jobs.append(
            training_job(
                index,
                value=1.0 + 0.5 * depth,
                hyperparameters={
                    "max_depth": str(depth),
                    "eta": f"{eta:.3f}",
                    "objective": "reg:squarederror",
                },
            )
        )
    document = {**history(), "trainingJobs": jobs}

    importance = figures.importances(document)

    assert set(importance) == {"max_depth", "eta"}  # the constant "objective" is not tuned
    assert max(importance, key=importance.__getitem__) == "max_depth"
    assert importance["max_depth"] > 0.8


def test_importance_needs_three_jobs_with_an_objective() -> None:
    document = {**history(), "trainingJobs": [training_job(1, value=1.0), training_job(2, value=2.0)]}

    assert figures.importances(document) == {}


def test_predicted_against_actual_is_square() -> None:
    svg = ET.fromstring(figures.prediction_figure([(0.0, 1.0), (10.0, 9.0), (5.0, 5.5)]))  # noqa: S314
    # The axes' background is the second patch: the same width as height.
    patch = next(g for g in svg.iter(f"{SVG}g") if g.get("id") == "patch_2")
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", next(patch.iter(f"{SVG}path")).get("d", ""))]
    xs, ys = numbers[0::2], numbers[1::2]
    assert max(xs) - min(xs) == pytest.approx(max(ys) - min(ys), rel=1e-3)


def test_no_objective_at_all_draws_nothing() -> None:
    document = history()
    document["trainingJobs"] = [training_job(1, "Failed", failureReason="x")]

    assert figures.objective_figure(document) is None


def test_the_registered_model_package_and_its_status_are_shown() -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/stack-models/3"
    registered = {"modelPackageArn": arn, "approvalStatus": "Rejected", "registration": "Enabled"}
    output = {"dataset": {"noiseFloorRmse": 1.0}, "registry": registered}
    off = {"modelPackageArn": None, "approvalStatus": None, "registration": "Disabled"}

    assert facts(render(run_data(output=output)))["model registry"] == f"{arn} (Rejected)"
    assert facts(render(run_data(output={"registry": off})))["model registry"] == (
        "not registered (ModelRegistry=Disabled)"
    )
    assert "model registry" not in facts(render(run_data()))
