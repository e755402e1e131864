"""``python -m offline``: progress on stderr, the result as the last line of stdout, the exit status."""

from __future__ import annotations

import io
import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from offline.__main__ import main
from offline.progress import job_counts
from offline.summary import why_tuning_ended
from tests.offline.conftest import small_run_arguments

ROOT = Path(__file__).resolve().parents[2]
SMALL = small_run_arguments(max_jobs=2)


def run_offline(*arguments: str) -> subprocess.CompletedProcess[str]:
    """``python -m offline`` in a fresh process, from the repository's root."""
    return subprocess.run(
        [sys.executable, "-m", "offline", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


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

    completed = run_offline("--input", str(execution_input))

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
        ("no-such-file.csv=s3://bucket-1/k.csv", "is not a file"),
    ],
)
def test_a_bad_upload_is_refused_before_the_run(
    item: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["--quiet", "--no-report", f"--upload={item}"])

    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 2
    assert result["status"] == "FAILED" and message in result["cause"]


TOO_FEW_ROWS = '{"trainRows": 5}'


def test_inline_json_input_runs_and_the_summary_shows_the_handlers_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["--no-report", "--input", TOO_FEW_ROWS])

    out, err = capsys.readouterr()
    assert status == 1
    assert json.loads(out)["error"] == "InvalidExecutionInput"
    (cause,) = [line for line in err.splitlines() if "] cause: " in line]
    # The handler's errorMessage, not the Lambda error's JSON with its stack trace.
    assert cause.split("] cause: ", 1)[1].startswith("trainRows must be >= 100")
    assert "stackTrace" not in err and "errorMessage" not in err


def test_input_dash_reads_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(TOO_FEW_ROWS))

    status = main(["--json", "--no-report", "--input", "-"])

    out, err = capsys.readouterr()
    assert (status, err) == (1, "")
    assert json.loads(out)["error"] == "InvalidExecutionInput"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{trainRows: 5}", "--input: the JSON given is not JSON"),
        ("no-such-file.json", "--input no-such-file.json"),
    ],
)
def test_input_that_is_neither_json_nor_a_file_exits_two(
    value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["--quiet", "--no-report", "--input", value])

    result = json.loads(capsys.readouterr().out)
    assert status == 2
    assert result["status"] == "FAILED" and result["cause"].startswith(message)


@pytest.mark.parametrize("bucket", ["My_Bucket", "ab", "-starts-with-a-hyphen", "two..dots"])
def test_an_invalid_upload_bucket_is_named_as_such(
    bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "train.csv"
    data.write_text("1,2\n")

    status = main(["--quiet", "--no-report", f"--upload={data}=s3://{bucket}/train.csv"])

    result = json.loads(capsys.readouterr().out)
    assert status == 2
    assert f"{bucket!r} is not a valid S3 bucket name" in result["cause"]


def test_own_data_in_a_bucket_not_uploaded_points_to_upload_not_to_redeploying(
    capsys: pytest.CaptureFixture[str],
) -> None:
    uris = {f"{role}Uri": f"s3://elsewhere-bucket/{role}.csv" for role in ("train", "validation", "test")}

    status = main(["--no-report", "--input", json.dumps({"data": uris})])

    out, err = capsys.readouterr()
    assert status == 1
    assert json.loads(out)["error"] == "OwnDataNotAllowed"
    assert "--upload FILE=s3://BUCKET/KEY" in err and "make demo-own-data" in err


def test_out_keeps_the_runs_objects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "kept"

    status = main(["--quiet", "--no-report", *SMALL, "--out", str(out_dir)])

    assert status == 0
    kept = {path.relative_to(out_dir).as_posix() for path in out_dir.rglob("*") if path.is_file()}
    assert {"tuning/training-jobs.json", "evaluation/metrics.json", "data/test-labels/test.csv"} <= kept
    assert "predictions/test.csv.out" in kept
    assert any(name.endswith("model.tar.gz") for name in kept)
    history = json.loads((out_dir / "tuning" / "training-jobs.json").read_text())
    assert len(history["trainingJobs"]) == 2
    predictions = (out_dir / "predictions" / "test.csv.out").read_text().split()
    assert len(predictions) == 100


def test_job_counts_are_words_and_an_early_end_of_tuning_is_explained() -> None:
    counters = {"Completed": 12, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 4}
    description = {
        "HyperParameterTuningJobStatus": "Completed",
        "HyperParameterTuningJobConfig": {
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 20},
            "TuningJobCompletionCriteria": {
                "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 10}
            },
        },
        "TrainingJobStatusCounters": counters,
        "TuningJobCompletionDetails": {"NumberOfTrainingJobsObjectiveNotImproving": 10},
    }

    assert job_counts(counters) == "16 training jobs: 12 completed, 4 stopped early by the tuning job"
    assert why_tuning_ended(description) == (
        "tuning stopped after 16 of 20 training jobs: 10 did not improve the best objective, at least the 10 "
        "of its completion criterion BestObjectiveNotImproving (MaxTrainingJobsNotImproving)"
    )
    # All the jobs it could run: nothing to explain.
    description["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 16
    assert why_tuning_ended(description) is None


def test_the_first_line_comes_before_the_engine_loads(tmp_path: Path) -> None:
    completed = run_offline("--no-report", "--input", TOO_FEW_ROWS)

    assert completed.returncode == 1, completed.stderr
    assert "starting: loading the engine" in completed.stderr.splitlines()[0]


def test_ctrl_c_stops_the_run_with_the_result_line_and_exit_130() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "offline", "--no-report", *SMALL[:-4], "--max-jobs", "50"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # wait for the tuning to be under way
        seen.append(line)
        if "   training job " in line:
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)

    assert process.returncode == 130, "".join(seen) + err
    result = json.loads(out.splitlines()[-1])
    assert result["status"] == "ABORTED"
    assert "Traceback" not in err
    assert "interrupted (Ctrl-C)" in err


def test_make_s_demo_prints_only_the_json_line_and_fails_as_the_readme_says() -> None:
    make = shutil.which("make")
    assert make, "make is not installed"
    completed = subprocess.run(
        # -o: the virtual environment counts as made (the tests run in it); PY: this interpreter.
        [make, "-s", "-o", ".venv/.offline", "demo", f"PY={sys.executable}", f"INPUT={TOO_FEW_ROWS}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 2, completed.stderr  # make's status for a command that failed
    (line,) = completed.stdout.splitlines()
    assert json.loads(line)["error"] == "InvalidExecutionInput"
