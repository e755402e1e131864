"""``python -m offline``: the state machine end to end on this machine, with progress and a summary.

Progress goes to stderr as it happens: each state entered and left (from the execution history), each
training job with its hyperparameters and objective as it finishes, the best so far. At the end, on
stderr: the execution's status, the best hyperparameters, the test RMSE of the batch predictions against
the test labels (both read from S3) beside the data's noise floor, and the wall time. Then the run's report
(``report/``: the same one ``make report`` builds from a cloud execution) is written to
``<report dir>/<run name>/report.html`` and its path printed; ``--out DIR`` keeps a copy of the run's
objects (the emulated S3 goes with the process). The last line on stdout is the execution's result as one
JSON object, and the only line there: ``--quiet`` (or ``--json``) also silences stderr. Exit status: 0 the
execution succeeded, 1 it failed, 2 the run could not start, 130 interrupted (Ctrl-C: the execution is
stopped and the result says ABORTED).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import re
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from botocore.exceptions import ClientError

from offline.template import DEFAULT_REGION, DEFINITION_FILE, TEMPLATE_FILE
from report.causes import readable_cause

if TYPE_CHECKING:  # the engine loads moto, XGBoost and Optuna: imported once the first line is printed
    from offline.engine import Engine, RunResult

EXIT_FAILED = 1
EXIT_NOT_STARTED = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command ended by Ctrl-C
# S3's bucket naming rules (general purpose buckets): 3-63 lowercase letters, digits, dots and hyphens,
# starting and ending with a letter or digit.
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class CommandLineError(ValueError):
    """An argument the run cannot use: the message names it and says what is expected."""


JOB_STATUS_WORDS = {
    "Completed": "completed",
    "InProgress": "still running",
    "RetryableError": "failed and retried",
    "NonRetryableError": "failed",
    "Stopped": "stopped early by the tuning job",
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m offline",
        description="Run statemachine/tuning.asl.json end to end offline: moto's Step Functions engine, the "
        "real Lambda handlers, SageMaker emulated with XGBoost on the CPU.",
    )
    parser.add_argument(
        "--input",
        metavar="FILE|-|JSON",
        help="execution input: a JSON file (e.g. events/execution_input_overrides.json), - for standard "
        "input, or the JSON itself ('{\"trainRows\": 5000}'); default {}",
    )
    parser.add_argument(
        "--quiet",
        "-q",
        "--json",
        action="store_true",
        help="nothing on stderr: only the result, one JSON line on stdout (for jq)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="copy the run's objects (data, model.tar.gz, predictions, metrics.json, the training jobs' "
        "history) from the emulated S3 into DIR before it goes with the process",
    )
    data = parser.add_argument_group("execution input keys (override --input)")
    data.add_argument("--rows", "--train-rows", dest="trainRows", type=int, metavar="N", help="training rows")
    data.add_argument("--validation-rows", dest="validationRows", type=int, metavar="N")
    data.add_argument("--test-rows", dest="testRows", type=int, metavar="N")
    data.add_argument("--noise", dest="noise", type=float, metavar="SIGMA")
    data.add_argument("--seed", dest="seed", type=int, metavar="N")
    stack = parser.add_argument_group("template parameters (defaults from template.yaml)")
    stack.add_argument("--max-jobs", type=int, metavar="N", help="MaxTrainingJobs")
    stack.add_argument("--parallel-jobs", type=int, metavar="N", help="MaxParallelTrainingJobs")
    stack.add_argument(
        "--parameter",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any template parameter, e.g. -p XGBoostVersion=1.7-1 (repeatable)",
    )
    stack.add_argument(
        "--upload",
        action="append",
        default=[],
        metavar="FILE=s3://BUCKET/KEY",
        help="put a local file into the emulated S3 before the run, for an input's own data (repeatable); "
        "the buckets are created and, unless -p ExternalDataBuckets=... is given, listed in that parameter",
    )
    stack.add_argument(
        "--region", default=DEFAULT_REGION, help=f"region to resolve the template for ({DEFAULT_REGION})"
    )
    parser.add_argument(
        "--definition", type=Path, default=DEFINITION_FILE, help="state machine definition to run"
    )
    parser.add_argument(
        "--template", type=Path, default=TEMPLATE_FILE, help="SAM template giving the substitutions"
    )
    parser.add_argument("--name", help="execution name (default: a UUID, as the console generates)")
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=Path(os.environ.get("REPORT_DIR") or "reports"),
        help="where the run's report goes: <dir>/<run name>/report.html (default $REPORT_DIR or reports)",
    )
    parser.add_argument("--no-report", action="store_true", help="do not write the report")
    return parser.parse_args(argv)


def execution_input(args: argparse.Namespace) -> Any:
    value: Any = {}
    if args.input is not None:
        value = read_input(args.input)
    overrides = {
        key: getattr(args, key)
        for key in ("trainRows", "validationRows", "testRows", "noise", "seed")
        if getattr(args, key) is not None
    }
    if overrides:
        if not isinstance(value, dict):
            raise CommandLineError("--rows/--noise/--seed need an execution input that is a JSON object")
        value = {**value, **overrides}
    return value


def read_input(source: str) -> Any:
    """``--input``: ``-`` reads standard input, text starting with ``{`` is the JSON itself, else a file."""
    where = "standard input" if source == "-" else source
    try:
        if source == "-":
            text = sys.stdin.read()
        elif source.lstrip().startswith(("{", "[")):
            text, where = source, "the JSON given"
        else:
            text = Path(source).read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as e:
        raise CommandLineError(f"--input {source}: {e.strerror or e}") from e
    except ValueError as e:
        raise CommandLineError(f"--input: {where} is not JSON: {e}") from e


def template_parameters(args: argparse.Namespace) -> dict[str, str]:
    parameters: dict[str, str] = {}
    if args.max_jobs is not None:
        parameters["MaxTrainingJobs"] = str(args.max_jobs)
    if args.parallel_jobs is not None:
        parameters["MaxParallelTrainingJobs"] = str(args.parallel_jobs)
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep:
            raise CommandLineError(f"--parameter {item!r}: expected NAME=VALUE")
        parameters[name.strip()] = value.strip()
    buckets = sorted({bucket for _, bucket, _ in uploads(args)})
    if buckets and "ExternalDataBuckets" not in parameters:
        parameters["ExternalDataBuckets"] = ",".join(buckets)
    return parameters


def uploads(args: argparse.Namespace) -> list[tuple[Path, str, str]]:
    """``--upload FILE=s3://BUCKET/KEY`` as (file, bucket, key), each file checked to exist."""
    found = []
    for item in args.upload:
        name, sep, uri = item.partition("=")
        bucket, slash, key = uri.removeprefix("s3://").partition("/")
        if not sep or not uri.startswith("s3://") or not bucket or not slash or not key:
            raise CommandLineError(f"--upload {item!r}: expected FILE=s3://BUCKET/KEY")
        if not BUCKET_NAME.fullmatch(bucket) or ".." in bucket:
            raise CommandLineError(
                f"--upload {item!r}: {bucket!r} is not a valid S3 bucket name (3 to 63 lowercase letters, "
                "digits, dots and hyphens, starting and ending with a letter or digit)"
            )
        path = Path(name)
        if not path.is_file():
            raise CommandLineError(f"--upload {item!r}: {path} is not a file")
        found.append((path, bucket, key))
    return found


def put_uploads(engine: Engine, args: argparse.Namespace, progress: Progress) -> None:
    """The files of ``--upload`` into the engine's S3 (moto), creating their buckets."""
    existing = {b["Name"] for b in engine.s3.list_buckets()["Buckets"]}
    for path, bucket, key in uploads(args):
        if bucket not in existing:
            region = engine.stack.region
            location = {} if region == "us-east-1" else {"LocationConstraint": region}
            engine.s3.create_bucket(
                Bucket=bucket, **({"CreateBucketConfiguration": location} if location else {})
            )
            existing.add(bucket)
        engine.s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        progress.line(f"uploaded {path} to s3://{bucket}/{key}")


class Progress:
    """Writes what happens to stderr, from two threads: the history poller and the SageMaker emulator."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            print(f"[{time.monotonic() - self.started:6.1f}s] {text}", file=self.stream, flush=True)

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            self.line(f"-> {event['stateEnteredEventDetails']['name']}")
        elif kind.endswith("StateExited"):
            self.line(f"<- {event['stateExitedEventDetails']['name']}")
        elif kind == "TaskFailed":
            details = event.get("taskFailedEventDetails") or {}
            cause = _shorten(readable_cause(details.get("cause")), 300)
            self.line(f"   task failed: {details.get('error')}: {cause}")
        elif kind == "ExecutionFailed":
            details = event.get("executionFailedEventDetails") or {}
            self.line(f"execution failed: {details.get('error')}")
        elif kind == "ExecutionSucceeded":
            self.line("execution succeeded")

    def on_sagemaker(self, event: str, data: dict[str, Any]) -> None:
        if event == "training_job_completed":
            objective = data.get("objective") or {}
            value = objective.get("value")
            shown = (
                f"{objective.get('name')}={value:.5f}" if isinstance(value, (int, float)) else "no objective"
            )
            status = data.get("status")
            if status == "Stopped":
                status = "Stopped (early by the tuning job: not promising against the jobs before it)"
            reason = f" ({_shorten(data['failureReason'], 200)})" if data.get("failureReason") else ""
            best = data.get("bestSoFar") or {}
            best_text = ""
            if best.get("objective") is not None:
                best_text = f" | best so far {best['objective']:.5f} ({best['name'][-12:]})"
            self.line(
                f"   training job {data.get('name')} {status}{reason}: {shown}, "
                f"{data.get('rounds')} rounds, {data.get('seconds')} s{best_text}"
            )
            self.line(f"      {_hyperparameters(data.get('hyperparameters') or {})}")
        elif event == "tuning_job_completed":
            counters = data.get("trainingJobStatusCounters") or {}
            reason = f" ({_shorten(data['failureReason'], 300)})" if data.get("failureReason") else ""
            self.line(
                f"   tuning job {data.get('name')} {data.get('status')}{reason}: {job_counts(counters)}"
            )
        elif event == "model_created":
            self.line(f"   model {data.get('name')} created from {data.get('modelDataUrl')}")
        elif event == "transform_job_completed":
            self.line(
                f"   transform job {data.get('name')} {data.get('status')}: {data.get('records')} records "
                f"in {data.get('seconds')} s"
            )


def job_counts(counters: dict[str, Any]) -> str:
    """TrainingJobStatusCounters in words: '16 training jobs: 12 completed, 4 stopped early by ...'."""
    total = sum(n for n in counters.values() if isinstance(n, int))
    parts = [f"{n} {JOB_STATUS_WORDS.get(status, status)}" for status, n in counters.items() if n]
    return f"{total} training job{'s' if total != 1 else ''}" + (": " + ", ".join(parts) if parts else "")


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


def _shorten(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _hyperparameters(values: dict[str, Any]) -> str:
    def fmt(value: Any) -> str:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return str(value)
        return f"{number:.4g}"

    return " ".join(f"{k}={fmt(v)}" for k, v in sorted(values.items()))


def prediction_rmse(engine: Engine, output: dict[str, Any]) -> tuple[float, int]:
    """RMSE of the transform's predictions against the test labels, and the number of records."""
    dataset, transform = output["dataset"], output["transform"]
    # The labels of test/<x>.csv are test-labels/<x>.csv (one file, or a part per shard), its predictions
    # <x>.csv.out; testLabelsUri is their prefix (or, for your own data, the one labels object).
    labels_uri = dataset["testLabelsUri"]
    labels_dir = labels_uri[: labels_uri.rfind("/") + 1]
    labels: list[float] = []
    predictions: list[float] = []
    for uri in sorted(engine.list_s3(labels_uri)):
        name = uri.removeprefix(labels_dir)
        labels.extend(float(line) for line in engine.read_s3(uri).decode().split())
        body = engine.read_s3(transform["outputUri"].rstrip("/") + f"/{name}.out").decode()
        # One prediction a line (AssembleWith: Line); with JoinSource: Input it is the last field.
        predictions.extend(float(line.rsplit(",", 1)[-1]) for line in body.splitlines() if line.strip())
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} test labels")
    error = sum((p - y) ** 2 for p, y in zip(predictions, labels, strict=True)) / len(labels)
    return math.sqrt(error), len(labels)


def noise_floor(dataset: dict[str, Any]) -> float | None:
    """The data's noise floor; for a sharded data set pooled from the shards' sums of squared noise."""
    shards = dataset.get("shardResults")
    if not shards:
        return dataset.get("noiseFloorRmse")
    rows = sum(shard["rows"]["test"] for shard in shards)
    return math.sqrt(sum(shard["testNoiseSumOfSquares"] for shard in shards) / rows) if rows else None


def report(engine: Engine, result: RunResult, progress: Progress) -> None:
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
        progress.line(f"cause: {_shorten(readable_cause(result.cause), 1000)}")
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
    progress.line(f"best hyperparameters: {_hyperparameters(tuning.get('hyperparameters') or {})}")
    try:
        rmse, records = prediction_rmse(engine, output)
    except Exception as e:  # the summary must still be printed
        progress.line(f"test RMSE: not available ({e})")
        return
    floor = noise_floor(output.get("dataset") or {})
    ratio = f" = {rmse / floor:.2f}x the noise floor {floor:.4f}" if floor else ""
    progress.line(f"test RMSE of the batch predictions ({records} records): {rmse:.4f}{ratio}")
    gate = (output.get("evaluation") or {}).get("qualityGate") or {}
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


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    progress = Progress(sys.stderr, enabled=not args.quiet)
    progress.line("starting: loading the engine (moto's Step Functions, the handlers, XGBoost, Optuna)")
    with _log_warnings_to_stderr(enabled=not args.quiet):
        started = time.monotonic()
        engine: Engine | None = None
        try:
            from offline.engine import Engine, OfflineRunError

            try:
                execution = execution_input(args)
                engine = Engine(
                    parameters=template_parameters(args),
                    region=args.region,
                    template_path=args.template,
                    definition_path=args.definition,
                    sagemaker_listener=progress.on_sagemaker,
                )
                with engine:
                    # Caught inside: leaving the engine waits for its handlers, which Ctrl-C must not.
                    try:
                        put_uploads(engine, args, progress)
                        progress.line(f"state machine {engine.state_machine_arn}")
                        progress.line(f"execution input {json.dumps(execution)}")
                        result = engine.run(execution, name=args.name, on_event=progress.on_event)
                        report(engine, result, progress)
                        if not args.no_report:
                            write_report(engine, result, args.report_dir, progress)
                        if args.out is not None:
                            keep_objects(engine, result, args.out, progress)
                    except KeyboardInterrupt:
                        interrupted(engine, progress, time.monotonic() - started)
            except (OfflineRunError, CommandLineError) as e:
                progress.line(f"the offline run could not start: {e}")
                print(json.dumps({"status": "FAILED", "error": type(e).__name__, "cause": str(e)}))
                return EXIT_NOT_STARTED
        except KeyboardInterrupt:
            interrupted(engine, progress, time.monotonic() - started)  # does not return
        progress.line(f"wall time: {time.monotonic() - started:.1f} s")
    print(json.dumps(result.summary()))
    return 0 if result.status == "SUCCEEDED" else EXIT_FAILED


def interrupted(engine: Engine | None, progress: Progress, seconds: float) -> NoReturn:
    """Ctrl-C: stops the running execution, prints the result line (ABORTED) and ends the process at once
    with 130. Ending it at once is what leaves nothing running: the training jobs and the handlers run in
    threads of this process, and the emulated AWS holds nothing outside it."""
    if engine is not None and engine.state_machine_arn:
        try:
            running = engine.sfn.list_executions(
                stateMachineArn=engine.state_machine_arn, statusFilter="RUNNING"
            )
            for execution in running.get("executions", []):
                engine.sfn.stop_execution(
                    executionArn=execution["executionArn"], error="Interrupted", cause="Ctrl-C (SIGINT)"
                )
        except Exception:  # noqa: S110 -- the process ends next either way
            pass
    progress.line(f"interrupted (Ctrl-C) after {seconds:.1f} s: the execution was stopped")
    print(
        json.dumps(
            {"status": "ABORTED", "error": "Interrupted", "cause": f"Ctrl-C (SIGINT) after {seconds:.1f} s"}
        ),
        flush=True,
    )
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


@contextlib.contextmanager
def _log_warnings_to_stderr(enabled: bool) -> Iterator[None]:
    """Warnings of the handlers and the emulator on stderr (nothing with --quiet), for this run only.

    The handlers set the root logger to INFO: their INFO records are CloudWatch material, not progress.
    The engine logs every task failure at ERROR with the whole state's repr; the progress lines (and the
    result's cause) already say what failed, so its logger is muted.
    """
    root = logging.getLogger()
    handler: logging.Handler = logging.StreamHandler(sys.stderr) if enabled else logging.NullHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("   log %(levelname)s %(name)s: %(message)s"))
    engine_logger = logging.getLogger("moto.stepfunctions.parser")
    engine_level = engine_logger.level
    root.addHandler(handler)
    engine_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        root.removeHandler(handler)
        engine_logger.setLevel(engine_level)


if __name__ == "__main__":
    sys.exit(main())
