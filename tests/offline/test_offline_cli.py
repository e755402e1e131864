"""``python -m offline``: progress on stderr, the result as the last line of stdout, the exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from offline.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
SMALL = [
    "--rows",
    "300",
    "--validation-rows",
    "100",
    "--test-rows",
    "100",
    "--max-jobs",
    "2",
    "--parallel-jobs",
    "1",
    # 300 rows cannot reach the default gate (1.25x the noise floor): a loose threshold keeps it passing.
    "-p",
    "MaxTestRmse=5",
]


def test_quiet_run_prints_only_the_result_json_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--quiet", *SMALL])

    out, err = capsys.readouterr()
    assert status == 0
    assert err == ""
    assert len(out.splitlines()) == 1
    result = json.loads(out)
    assert result["status"] == "SUCCEEDED"
    assert result["output"]["input"]["trainRows"] == 300
    assert result["output"]["tuning"]["trainingJobStatusCounters"]["Completed"] == 2
    assert result["output"]["transform"]["status"] == "Completed"


def test_progress_shows_states_training_jobs_best_so_far_test_rmse_and_wall_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(SMALL)

    out, err = capsys.readouterr()
    assert status == 0
    assert json.loads(out.splitlines()[-1])["status"] == "SUCCEEDED"
    lines = err.splitlines()

    def first(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    # States entered and left, in the order of the history.
    assert first("-> Generate Training Dataset") < first("<- Generate Training Dataset")
    assert first("<- Generate Training Dataset") < first("-> HyperparameterTuning (XGBoost)")
    assert (
        first("-> HyperparameterTuning (XGBoost)")
        < first("training job ")
        < first("<- HyperparameterTuning (XGBoost)")
    )
    assert first("-> Batch transform") < first("<- Batch transform") < first("status: SUCCEEDED")
    jobs = [line for line in lines if "   training job " in line]
    assert len(jobs) == 2
    assert all("validation:rmse=" in line and "best so far" in line for line in jobs)
    assert "eta=" in lines[first("   training job ") + 1]
    assert "eta=" in lines[first("best hyperparameters:")]
    rmse_line = lines[first("test RMSE of the batch predictions (100 records):")]
    assert "x the noise floor" in rmse_line
    assert lines[first("quality gate")].endswith(
        "quality gate passed: test RMSE at most 5.0 (MaxTestRmse template parameter)"
    )
    assert "wall time:" in lines[-1]


def test_failed_execution_exits_non_zero_with_the_error_and_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    execution_input = tmp_path / "input.json"
    execution_input.write_text(json.dumps({"trainRows": 5}))

    status = main(["--quiet", "--input", str(execution_input)])

    out, _ = capsys.readouterr()
    assert status == 1
    result = json.loads(out)
    assert result["status"] == "FAILED"
    assert result["error"] == "InvalidExecutionInput"
    assert "trainRows must be >= 100" in json.loads(result["cause"])["errorMessage"]


def test_definition_that_cannot_start_exits_two_and_says_where(
    broken_definition: Callable[[str, str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = broken_definition('"Next": "Extract Model Name"', '"Next": "Extract Model Names"')

    status = main(["--quiet", "--definition", str(path)])

    out, err = capsys.readouterr()
    assert status == 2
    assert err == ""
    result = json.loads(out)
    assert result["status"] == "FAILED"
    assert result["error"] == "DefinitionError"
    assert "Extract Model Names" in result["cause"]


def test_python_m_offline_runs_in_a_fresh_process(tmp_path: Path) -> None:
    execution_input = tmp_path / "input.json"
    execution_input.write_text(json.dumps({"unknown": 1}))

    completed = subprocess.run(
        [sys.executable, "-m", "offline", "--input", str(execution_input)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 1, completed.stderr
    last = json.loads(completed.stdout.splitlines()[-1])
    assert last["status"] == "FAILED" and last["error"] == "InvalidExecutionInput"
    assert "-> Invalid Execution Input" in completed.stderr
    assert "status: FAILED" in completed.stderr


OWN_DATA = Path(__file__).resolve().parents[2] / "events" / "own-data"


def test_the_own_data_example_runs_offline_with_its_files_uploaded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = Path(__file__).resolve().parents[2] / "events" / "execution_input_own_data.json"
    data = json.loads(event.read_text(encoding="utf-8"))["data"]
    uploads = [
        f"--upload={OWN_DATA / f'{role}.csv'}={data[f'{role}Uri']}"
        for role in ("train", "validation", "test")
    ]

    status = main(["--quiet", "--no-report", "--input", str(event), "--max-jobs", "3", *uploads])

    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 0, result
    assert result["output"]["dataset"]["source"] == "s3"
    assert result["output"]["dataset"]["trainUri"] == data["trainUri"]
    # The example's threshold is the input's, and the tuned model meets it.
    gate = result["output"]["evaluation"]["qualityGate"]
    assert (gate["source"], gate["threshold"]) == ("input", 0.55)
    assert result["output"]["evaluation"]["rmse"] <= 0.55


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("train.csv", "expected FILE=s3://BUCKET/KEY"),
        ("train.csv=https://example.com/x", "expected FILE=s3://BUCKET/KEY"),
        ("train.csv=s3://bucket-only", "expected FILE=s3://BUCKET/KEY"),
        ("no-such-file.csv=s3://b/k.csv", "is not a file"),
    ],
)
def test_a_bad_upload_is_refused_before_the_run(
    item: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["--quiet", "--no-report", f"--upload={item}"])

    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 2
    assert result["status"] == "FAILED" and message in result["cause"]
