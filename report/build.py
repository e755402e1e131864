"""A report for one execution: where its objects are, from DescribeExecution, then collect and render.

The same code serves the offline run (moto's Step Functions and S3) and ``make report`` (the cloud).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from functions.extract_model_path.tuning_history import json_safe
from report.collect import HISTORY_KEY, ReportInputError, RunData, collect, split_s3_uri
from report.render import render

REPORT_FILE = "report.html"
# The console's host in each partition.
CONSOLE_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}
# The states whose output carries the run's dataset (the first state's result is the state for the rest).
_DATASET_STATES = ("Generate Training Dataset",)


def dataset_of(sfn: Any, execution: Mapping[str, Any]) -> dict[str, Any]:
    """The run's dataset (bucket, prefix...): from the output, else from the history of a failed run."""
    output = _parse(execution.get("output"))
    if isinstance(output.get("dataset"), Mapping):
        return dict(output["dataset"])
    kwargs: dict[str, Any] = {"executionArn": execution["executionArn"], "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        for event in page["events"]:
            details = event.get("stateExitedEventDetails") or {}
            if details.get("name") in _DATASET_STATES:
                state = _parse(details.get("output"))
                if isinstance(state.get("dataset"), Mapping):
                    return dict(state["dataset"])
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    raise ReportInputError(
        f"execution {execution.get('name')} ({execution.get('status')}) has no dataset: it failed before "
        "Generate Training Dataset wrote one, so there is nothing to report"
    )


def _parse(text: Any) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def console_links(execution_arn: str, data: RunData) -> dict[str, str]:
    """Links to the execution, the tuning job and the run's objects in the AWS console."""
    parts = execution_arn.split(":")
    partition, region = parts[1], parts[3]
    host = CONSOLE_HOSTS.get(partition, CONSOLE_HOSTS["aws"])
    base = f"https://{host}"
    links = {
        "execution": f"{base}/states/home?region={region}#/v2/executions/details/"
        + quote(execution_arn, safe=""),
        "objects": f"https://{host}/s3/buckets/{quote(data.bucket)}?region={region}&prefix="
        + quote(data.prefix),
    }
    tuning_job = (data.history or {}).get("tuningJobName") or (data.output.get("tuning") or {}).get(
        "tuningJobName"
    )
    if tuning_job:
        links["tuningJob"] = f"{base}/sagemaker/home?region={region}#/hyper-tuning-jobs/{quote(tuning_job)}"
    return links


def history_from_sagemaker(sagemaker: Any, data: RunData, tuning_job: str) -> None:
    """The training job history, read from SageMaker as Extract Model Path would have written it.

    A tuning job in which every training job failed ends the run before Extract Model Path: the report
    of such a run is the one most worth reading, so it asks SageMaker itself.
    """
    from functions.extract_model_path.tuning_history import (
        TrainingJobListFailed,
        history_document,
        training_jobs,
    )

    try:
        description = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning_job)
        jobs = training_jobs(sagemaker, tuning_job)
    except (ClientError, TrainingJobListFailed) as e:
        data.problems.append(f"the training job history is not in SageMaker either: {e}")
        return
    data.history = json_safe(history_document(description, jobs))
    missing = f"s3://{data.bucket}/{data.prefix}{HISTORY_KEY} does not exist"
    data.problems = [p for p in data.problems if not p.endswith(missing)]
    data.problems.append(
        f"the run wrote no training job history (it stopped before Extract Model Path): the history of "
        f"tuning job {tuning_job} was read from SageMaker"
    )


def build_report(
    sfn: Any,
    s3: Any,
    execution_arn: str,
    out_dir: Path,
    *,
    links: bool = True,
    sagemaker: Any = None,
) -> tuple[Path, RunData]:
    """Writes ``<out_dir>/<run name>/report.html`` for the execution; returns its path and the data.

    With a ``sagemaker`` client, a run without a training job history gets it from SageMaker.
    """
    try:
        described = sfn.describe_execution(executionArn=execution_arn)
    except ClientError as e:
        error = e.response.get("Error", {})
        raise ReportInputError(
            f"DescribeExecution({execution_arn}) failed: {error.get('Code')}: {error.get('Message')}"
        ) from e
    execution = json_safe({k: v for k, v in described.items() if k != "ResponseMetadata"})
    dataset = dataset_of(sfn, execution)
    bucket, prefix = dataset.get("bucket"), dataset.get("prefix")
    if not (isinstance(bucket, str) and isinstance(prefix, str)) and isinstance(dataset.get("trainUri"), str):
        bucket, _ = split_s3_uri(dataset["trainUri"])
    if not isinstance(bucket, str) or not isinstance(prefix, str) or not prefix:
        raise ReportInputError(
            f"the execution's dataset names no bucket and prefix: {json.dumps(dataset)[:300]}"
        )
    output = _parse(execution.get("output"))
    data = collect(s3, bucket, prefix, execution=execution, output=output)
    tuning_job = dataset.get("tuningJobName")
    if data.history is None and sagemaker is not None and isinstance(tuning_job, str) and tuning_job:
        history_from_sagemaker(sagemaker, data, tuning_job)
    page = render(
        data,
        console_links(execution_arn, data) if links else {},
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    )
    path = Path(out_dir) / data.run_name / REPORT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path, data
