"""What ``python -m offline`` says after the execution: the summary lines, the report, the objects kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from offline.progress import Progress, hyperparameters_text, shorten
from report.causes import readable_cause

if TYPE_CHECKING:  # the engine loads moto, XGBoost and Optuna: imported once the first line is printed
    from offline.engine import Engine, RunResult


def why_tuning_ended(description: dict[str, Any]) -> str | None:
    """Why a tuning job ran fewer training jobs than it could: its completion criteria, in words."""
    config = description.get("HyperParameterTuningJobConfig") or {}
    limit = (config.get("ResourceLimits") or {}).get("MaxNumberOfTrainingJobs")
    ran = sum(n for n in (description.get("TrainingJobStatusCounters") or {}).values() if isinstance(n, int))
    if (
        not isinstance(limit, int)
        or ran >= limit
        or description.get("HyperParameterTuningJobStatus") != "Completed"
    ):
        return None
    criteria = config.get("TuningJobCompletionCriteria") or {}
    not_improving = (description.get("TuningJobCompletionDetails") or {}).get(
        "NumberOfTrainingJobsObjectiveNotImproving"
    )
    patience = (criteria.get("BestObjectiveNotImproving") or {}).get("MaxNumberOfTrainingJobsNotImproving")
    if isinstance(patience, int) and isinstance(not_improving, int) and not_improving >= patience:
        return (
            f"tuning stopped after {ran} of {limit} training jobs: {not_improving} did not improve the best "
            f"objective, at least the {patience} of its completion criterion BestObjectiveNotImproving "
            "(MaxTrainingJobsNotImproving)"
        )
    target = criteria.get("TargetObjectiveMetricValue")
    if target is not None:
        return (
            f"tuning stopped after {ran} of {limit} training jobs: the best objective reached the target "
            f"{target} (completion criterion TargetObjectiveMetricValue)"
        )
    return f"tuning stopped after {ran} of {limit} training jobs (its completion criteria were met)"


def summarise(engine: Engine, result: RunResult, progress: Progress) -> None:
    progress.line(f"status: {result.status}")
    tuning_job = _tuning_job_name(engine, result)
    if tuning_job:
        try:
            description = engine.sagemaker.describe_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=tuning_job
            )
        except ClientError:  # no tuning job (the run failed before it): nothing to explain
            description = {}
        why = why_tuning_ended(description)
        if why:
            progress.line(why)
    if result.status != "SUCCEEDED":
        progress.line(f"error: {result.error}")
        progress.line(f"cause: {shorten(readable_cause(result.cause), 1000)}")
        if result.error == "OwnDataNotAllowed":
            progress.line(
                "offline, your own files go into the emulated S3 with --upload FILE=s3://BUCKET/KEY (their "
                "buckets are then allowed); make demo-own-data shows how"
            )
        return
    output = result.output or {}
    tuning = output.get("tuning") or {}
    progress.line(
        f"best training job: {tuning.get('bestTrainingJobName')} "
        f"({tuning.get('objectiveMetric')} = {tuning.get('objectiveValue')})"
    )
    progress.line(f"best hyperparameters: {hyperparameters_text(tuning.get('hyperparameters') or {})}")
    # Evaluate Model's figures: it pairs the predictions with the labels and pools a sharded noise floor.
    evaluation = output.get("evaluation") or {}
    rmse, rows = evaluation.get("rmse"), evaluation.get("rows")
    gate = evaluation.get("qualityGate") or {}
    if not isinstance(rmse, (int, float)):
        progress.line("test RMSE: not available (the output has no evaluation)")
        return
    floor = gate.get("noiseFloorRmse")
    ratio = f" = {rmse / floor:.2f}x the noise floor {floor:.4f}" if floor else ""
    progress.line(f"test RMSE of the batch predictions ({rows} records): {rmse:.4f}{ratio}")
    if gate.get("enabled"):
        progress.line(f"quality gate passed: test RMSE at most {gate.get('threshold')} ({gate.get('basis')})")
    elif gate:
        progress.line(f"quality gate off: {gate.get('basis')}")
    registry = output.get("registry") or {}
    if registry.get("modelPackageArn"):
        progress.line(f"model registry: {registry['modelPackageArn']} ({registry.get('approvalStatus')})")
    elif registry:
        progress.line("model registry: not registered (template parameter ModelRegistry=Disabled)")


def _tuning_job_name(engine: Engine, result: RunResult) -> str | None:
    name = ((result.output or {}).get("tuning") or {}).get("tuningJobName")
    if name:
        return name
    for event in result.history:
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == "Generate Training Dataset":
            try:
                return (json.loads(details.get("output") or "{}").get("dataset") or {}).get("tuningJobName")
            except ValueError:
                return None
    return None


def write_report(engine: Engine, result: RunResult, out_dir: Path, progress: Progress) -> Path | None:
    """The run's report, from its objects in (moto's) S3 through DescribeExecution, as ``make report``."""
    import boto3

    from offline.engine import route_client_to_emulator
    from report.build import build_report
    from report.collect import ReportInputError

    # The history of a run that stopped before Extract Model Path comes from the emulator, as
    # make report gets it from SageMaker.
    sagemaker = boto3.client("sagemaker", region_name=engine.stack.region)
    route_client_to_emulator(sagemaker, engine.sagemaker)
    try:
        path, data = build_report(
            engine.sfn, engine.s3, result.execution_arn, out_dir, links=False, sagemaker=sagemaker
        )
    except ReportInputError as e:
        progress.line(f"report: not written ({e})")
        return None
    for problem in data.problems:
        progress.line(f"report: {problem}")
    progress.line(f"report: {path}")
    return path


def keep_objects(engine: Engine, result: RunResult, out_dir: Path, progress: Progress) -> int:
    """Copies the run's objects (everything under runs/<run name>/, and the model wherever it is) to
    ``out_dir``, keys as paths; returns how many. The emulated S3 disappears when the run ends."""
    from report.build import dataset_of
    from report.collect import ReportInputError

    try:
        dataset = dataset_of(engine.sfn, engine.sfn.describe_execution(executionArn=result.execution_arn))
    except ReportInputError as e:
        progress.line(f"--out: nothing to keep ({e})")
        return 0
    bucket, prefix = dataset.get("bucket"), dataset.get("prefix")
    if not (isinstance(bucket, str) and isinstance(prefix, str) and prefix):
        progress.line("--out: nothing to keep (the run names no bucket and prefix)")
        return 0
    uris = engine.list_s3(f"s3://{bucket}/{prefix}")
    model = ((result.output or {}).get("tuning") or {}).get("modelDataUrl")
    if isinstance(model, str) and model not in uris:
        uris.append(model)
    root = out_dir.resolve()
    for uri in uris:
        key = (
            uri.removeprefix(f"s3://{bucket}/").removeprefix(prefix)
            if uri.startswith(f"s3://{bucket}/")
            else uri
        )
        target = (root / key.removeprefix("s3://")).resolve()
        if not target.is_relative_to(root):  # a key with .. in it stays inside DIR
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(engine.read_s3(uri))
    progress.line(f"kept {len(uris)} objects of s3://{bucket}/{prefix} in {out_dir}")
    return len(uris)
