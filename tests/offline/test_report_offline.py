"""The offline run writes the run's report; ``python -m report`` builds the same from the execution."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from offline.__main__ import main as offline_main
from offline.engine import Engine
from offline.progress import Progress
from offline.summary import write_report
from report.__main__ import main as report_main
from tests.offline.conftest import SMALL_INPUT, small_run_arguments

SMALL = small_run_arguments()


def _jobs_rows(page: str) -> list[str]:
    return re.findall(r'<tr><td class="num">\d+</td>.*?</tr>', page)


def test_offline_run_writes_the_report_and_prints_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = offline_main([*SMALL, "--report-dir", str(tmp_path)])

    out, err = capsys.readouterr()
    assert status == 0
    output = json.loads(out.splitlines()[-1])["output"]
    run_name = output["dataset"]["runName"]
    path = tmp_path / run_name / "report.html"
    assert f"report: {path}" in err
    page = path.read_text(encoding="utf-8")
    # Three training jobs, the best one marked, the test set's 100 rows in the scatter, no problem.
    assert len(_jobs_rows(page)) == 3
    assert f"<code>{output['tuning']['bestTrainingJobName']}</code> <b>best</b>" in page
    assert '<p class="sub">100 test rows</p>' in page
    assert '<div class="problems">' not in page
    # The objective, the importance and the objective against each hyperparameter, predicted against actual.
    assert page.count("<svg") == 4
    # The history the report read is the one Extract Model Path wrote.
    assert output["tuning"]["trainingJobsUri"].endswith(f"runs/{run_name}/tuning/training-jobs.json")


def test_no_report_option_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert offline_main(["--quiet", "--no-report", *SMALL, "--report-dir", str(tmp_path)]) == 0
    assert list(tmp_path.iterdir()) == []


def test_run_that_failed_before_writing_data_says_why_there_is_no_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    execution_input = tmp_path / "input.json"
    execution_input.write_text(json.dumps({"trainRows": -1}))
    reports = tmp_path / "reports"

    assert offline_main(["--input", str(execution_input), "--report-dir", str(reports)]) == 1

    err = capsys.readouterr().err
    assert "report: not written (execution" in err and "failed before Generate Training Dataset" in err
    assert not reports.exists()


def test_report_command_on_an_execution_shows_a_failed_training_job_with_its_reason(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``make report`` against the engine's Step Functions and S3 (moto), as against the cloud."""
    engine.sagemaker.fail_training_jobs_when(
        lambda name, hyperparameters: (
            "ClientError: max_depth too deep" if name.endswith(("-002",)) or "-002-" in name else None
        )
    )
    result = engine.run(SMALL_INPUT)
    assert result.status == "SUCCEEDED", result.cause

    status = report_main(["--execution-arn", result.execution_arn, "--out-dir", str(tmp_path)])

    out, err = capsys.readouterr()
    assert status == 0, err
    path = Path(out.strip())
    assert path == tmp_path / result.output["dataset"]["runName"] / "report.html"
    page = path.read_text(encoding="utf-8")
    rows = _jobs_rows(page)
    assert len(rows) == 3
    (failed,) = [row for row in rows if "Failed" in row]
    assert "ClientError: max_depth too deep" in failed
    assert "-002-" in failed
    # The cloud command links to the console; the figure marks the job without an objective.
    assert "console.aws.amazon.com/states/home?region=us-east-1" in page
    assert "no objective (failed or stopped before reporting)" in page


def test_report_of_a_run_whose_training_jobs_all_failed_reads_the_history_from_sagemaker(
    engine: Engine, tmp_path: Path
) -> None:
    """Such a run stops in the tuning state, before Extract Model Path writes the history."""
    engine.sagemaker.fail_training_jobs_when(lambda name, hyperparameters: "AlgorithmError: out of memory")
    result = engine.run(SMALL_INPUT)
    assert result.status == "FAILED"
    lines = io.StringIO()

    path = write_report(engine, result, tmp_path, Progress(lines, enabled=True))

    assert path is not None and f"report: {path}" in lines.getvalue()
    page = path.read_text(encoding="utf-8")
    rows = _jobs_rows(page)
    assert len(rows) == 3
    assert all("AlgorithmError: out of memory" in row for row in rows)
    assert "was read from SageMaker" in page
    assert "No predictions to show: the execution ended with States.TaskFailed before" in page
    assert "No training job reported an objective value" in page
    # The error cell holds SageMaker's reason, not the tuning job's whole description.
    assert "Failed: No training job succeeded" in page
    assert "TrainingJobDefinition" not in page
