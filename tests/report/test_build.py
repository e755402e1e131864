"""A report for an execution: DescribeExecution (and the history of a failed one) gives the run's prefix."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from report.__main__ import main
from report.build import build_report, console_links
from report.collect import ReportInputError
from tests.conftest import BUCKET_NAME, REGION
from tests.report.conftest import PREFIX, history, lines

EXECUTION_ARN = f"arn:aws:states:{REGION}:123456789012:execution:TuningStateMachine-Ab12:nightly-1"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:123456789012:stateMachine:TuningStateMachine-Ab12"
DATASET = {"runName": "nightly-1-0123456789ab", "bucket": BUCKET_NAME, "prefix": PREFIX}
STARTED = dt.datetime(2026, 11, 28, 10, tzinfo=dt.UTC)


def described(status: str = "SUCCEEDED", output: Any = None, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = {
        "executionArn": EXECUTION_ARN,
        "stateMachineArn": STATE_MACHINE_ARN,
        "name": "nightly-1",
        "status": status,
        "startDate": STARTED,
        "stopDate": STARTED + dt.timedelta(minutes=30),
        **extra,
    }
    if output is not None:
        response["output"] = json.dumps(output)
    return response


@pytest.fixture
def sfn(mocked_aws: None) -> Any:
    return boto3.client("stepfunctions", region_name=REGION)


@pytest.fixture
def run_objects(put: Callable[[str, Any], None]) -> None:
    put("tuning/training-jobs.json", history())
    put("data/test-labels/test.csv", lines([1.0, 2.0, 3.0]))
    put("predictions/test.csv.out", lines([1.5, 2.0, 2.5]))


def test_succeeded_execution_gives_a_report_under_its_run_name(
    sfn: Any, s3_client: Any, run_objects: None, tmp_path: Path
) -> None:
    stubber = Stubber(sfn)
    output = {"dataset": DATASET, "tuning": {"bestTrainingJobName": "x"}, "model": {"modelName": "model-1"}}
    stubber.add_response("describe_execution", described(output=output), {"executionArn": EXECUTION_ARN})

    with stubber:
        path, data = build_report(sfn, s3_client, EXECUTION_ARN, tmp_path)

    assert path == tmp_path / "nightly-1-0123456789ab" / "report.html"
    page = path.read_text(encoding="utf-8")
    assert "model-1" in page
    assert "AlgorithmError: &lt;out of memory&gt;" in page
    assert data.test is not None and data.test.rows == 3
    assert data.execution["status"] == "SUCCEEDED"
    assert data.execution["startDate"] == "2026-11-28T10:00:00+00:00"
    # Console links for a cloud execution, in its region.
    assert f"https://console.aws.amazon.com/states/home?region={REGION}#/v2/executions/details/" in page
    stubber.assert_no_pending_responses()


def test_failed_execution_finds_its_dataset_in_the_history(
    sfn: Any, s3_client: Any, run_objects: None, tmp_path: Path
) -> None:
    """A run the quality gate or a job failed has no output: the first state's result names the prefix."""
    stubber = Stubber(sfn)
    stubber.add_response(
        "describe_execution",
        described("FAILED", error="QualityGateFailed", cause="test RMSE 1.43 is above the threshold 1.25"),
        {"executionArn": EXECUTION_ARN},
    )
    events = [
        {"id": 1, "timestamp": STARTED, "type": "ExecutionStarted"},
        {
            "id": 5,
            "timestamp": STARTED,
            "type": "TaskStateExited",
            "stateExitedEventDetails": {
                "name": "Generate Training Dataset",
                "output": json.dumps({"input": {}, "dataset": DATASET}),
            },
        },
    ]
    stubber.add_response("get_execution_history", {"events": events, "nextToken": "t1"})
    stubber.add_response("get_execution_history", {"events": []})

    with stubber:
        path, data = build_report(sfn, s3_client, EXECUTION_ARN, tmp_path, links=False)

    page = path.read_text(encoding="utf-8")
    assert "QualityGateFailed" in page and "test RMSE 1.43 is above the threshold 1.25" in page
    assert "console.aws.amazon.com" not in page
    assert data.history is not None


def test_execution_that_failed_before_writing_data_has_nothing_to_report(
    sfn: Any, s3_client: Any, tmp_path: Path
) -> None:
    stubber = Stubber(sfn)
    stubber.add_response("describe_execution", described("FAILED", error="InvalidExecutionInput"))
    stubber.add_response("get_execution_history", {"events": []})

    with stubber, pytest.raises(ReportInputError, match="failed before Generate Training Dataset"):
        build_report(sfn, s3_client, EXECUTION_ARN, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unknown_execution_is_a_report_input_error(sfn: Any, s3_client: Any, tmp_path: Path) -> None:
    stubber = Stubber(sfn)
    stubber.add_client_error("describe_execution", "ExecutionDoesNotExist", "Execution Does Not Exist")

    with stubber, pytest.raises(ReportInputError, match="ExecutionDoesNotExist"):
        build_report(sfn, s3_client, EXECUTION_ARN, tmp_path)


@pytest.mark.parametrize(
    ("partition", "host"),
    [
        ("aws", "console.aws.amazon.com"),
        ("aws-cn", "console.amazonaws.cn"),
        ("aws-us-gov", "console.amazonaws-us-gov.com"),
    ],
)
def test_console_links_use_the_partitions_console(partition: str, host: str, s3_client: Any) -> None:
    from report.collect import RunData

    arn = f"arn:{partition}:states:xx-test-1:123456789012:execution:sm:run"
    links = console_links(arn, RunData(bucket="b", prefix="runs/r/", history={"tuningJobName": "r"}))

    assert all(url.startswith(f"https://{host}/") for url in links.values())
    assert "region=xx-test-1" in links["execution"]
    assert links["tuningJob"].endswith("#/hyper-tuning-jobs/r")
    assert links["objects"].endswith("/s3/buckets/b?region=xx-test-1&prefix=runs/r/")


# --- the command (make report) ------------------------------------------------------------------------------


def test_command_refuses_what_is_not_an_execution_arn(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--execution-arn", "arn:aws:states:us-east-1:1:stateMachine:sm"]) == 2
    assert "not a Step Functions execution ARN" in capsys.readouterr().err


def test_command_reports_an_execution_it_cannot_find_and_exits_1(
    mocked_aws: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status = main(["--execution-arn", EXECUTION_ARN, "--out-dir", str(tmp_path)])

    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""
    assert err.startswith("no report: DescribeExecution(") and "ExecutionDoesNotExist" in err
