"""SageMaker, offline: tuning, training, models and batch transform run for real on the CPU.

``LocalSageMaker`` answers the SageMaker API calls the state machine makes, with boto3's request and
response shapes. Training jobs are the built-in XGBoost algorithm (``offline.xgboost_algorithm``) reading
their channels from S3 (moto's, in the offline run); tuning jobs search the request's ranges with Optuna
(``offline.hpo``); transform jobs predict with the saved model (``offline.batch_transform``).

Create calls run their jobs to the end before they return; Describe calls then report them as SageMaker
does. Every request is validated against botocore's input shape, maxima and patterns included
(``offline.request_validation``). Errors are ``botocore.exceptions.ClientError`` with SageMaker's codes.

Where SageMaker's behaviour is documented or widely reported, it is followed (comments name the source
where it matters); where the emulator cannot follow (an algorithm other than XGBoost, manifests, warm
start), the request is refused with a ValidationException saying so.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import gzip
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import optuna
from botocore.exceptions import BotoCoreError, ClientError

from offline import batch_transform, hpo
from offline import xgboost_algorithm as algorithm
from offline.request_validation import client_error, validate_request, validation_exception

logger = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)

Listener = Callable[[str, dict[str, Any]], None]
# predicate(training job name, hyperparameters) -> failure reason, or None to let the job run.
TrainingFailurePredicate = Callable[[str, dict[str, str]], str | None]

MAX_FAILURE_REASON = 1024
# SageMaker gives up on a tuning job when its first training jobs all fail (the reason it reports names 5).
FAILED_ATTEMPTS_BEFORE_GIVING_UP = 5
DEFAULT_LIST_MAX_RESULTS = 10
# Managed spot training bills a share of the training time (AWS: savings up to 90%, depending on spot
# prices). The emulator cannot know the market: it assumes 70% savings, so BillableTimeInSeconds of a spot
# job is 30% of its TrainingTimeInSeconds (at least 1 s). Only cost reports read it.
OFFLINE_SPOT_BILLABLE_SHARE = 0.3
_XGBOOST_IMAGE = re.compile(r"(^|/)sagemaker-xgboost(:[^/@]+|@sha256:[0-9a-f]+)?$")
_LEGACY_XGBOOST_IMAGE = re.compile(r"(^|/)xgboost(:[^/@]+)?$")

_OPERATIONS = {
    "CreateHyperParameterTuningJob": "create_hyper_parameter_tuning_job",
    "DescribeHyperParameterTuningJob": "describe_hyper_parameter_tuning_job",
    "ListTrainingJobsForHyperParameterTuningJob": "list_training_jobs_for_hyper_parameter_tuning_job",
    "StopHyperParameterTuningJob": "stop_hyper_parameter_tuning_job",
    "DescribeTrainingJob": "describe_training_job",
    "CreateModel": "create_model",
    "DescribeModel": "describe_model",
    "CreateTransformJob": "create_transform_job",
    "DescribeTransformJob": "describe_transform_job",
    "StopTransformJob": "stop_transform_job",
    "AddTags": "add_tags",
    "ListTags": "list_tags",
}
_METHOD_TO_OPERATION = {method: operation for operation, method in _OPERATIONS.items()}

_DEFAULT_FAULT_MESSAGES = {
    "ThrottlingException": "Rate exceeded",
    "ResourceLimitExceeded": "The account-level service limit for this resource is exceeded (injected fault)",
    "InternalFailure": "We encountered an internal error. Please try again.",
    "ServiceUnavailable": "Service is unavailable. Please try again later.",
}
_SERVER_FAULTS = frozenset({"InternalFailure", "ServiceUnavailable", "InternalServerError"})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    return "aws"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key or prefix) of an ``s3://`` URI."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def json_safe(value: Any) -> Any:
    """A copy of ``value`` that ``json.dumps`` accepts (datetimes as ISO 8601 strings)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value
    try:
        return float(value)  # numpy numbers
    except (TypeError, ValueError):
        return str(value)


class _StoppedBeforeStart(Exception):
    """StopHyperParameterTuningJob came before this training job started."""


@dataclass
class _Fault:
    code: str
    message: str
    remaining: int


@dataclass
class _TrainingJob:
    description: dict[str, Any]
    tuned: dict[str, str]
    index: int
    objective: float | None = None
    objective_status: str = "Pending"
    history: list[float] = field(default_factory=list)
    stop_reason: str | None = None


@dataclass
class _TuningPlan:
    space: list[hpo.TunedParameter]
    strategy: str
    maximize: bool
    metric_name: str
    max_jobs: int
    parallel: int
    seed: int | None
    early_stopping: bool
    hyperband: tuple[int, int] | None
    static: dict[str, str]
    channels: list[dict[str, Any]]
    max_runtime: int | None
    training_max_runtime: int | None
    target: float | None
    not_improving_limit: int | None


@dataclass
class _TuningJob:
    request: dict[str, Any]
    arn: str
    plan: _TuningPlan
    creation_time: dt.datetime
    status: str = "InProgress"
    end_time: dt.datetime | None = None
    last_modified: dt.datetime | None = None
    failure_reason: str | None = None
    training_jobs: list[str] = field(default_factory=list)
    best: str | None = None
    not_improving: int = 0
    stop_requested: threading.Event = field(default_factory=threading.Event)


class LocalSageMaker:
    """The SageMaker API of the offline run: methods take boto3's keyword arguments, return its responses."""

    def __init__(
        self,
        s3_client: Any,
        *,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        listener: Listener | None = None,
    ) -> None:
        self._s3 = s3_client
        self.region = region
        self.account_id = account_id
        self.partition = partition_of(region)
        self._listener = listener
        self._lock = threading.RLock()
        # Training jobs run in threads: S3 calls (moto's S3 is not known to be thread-safe) and the channel
        # cache are taken one at a time, and listeners see one event at a time.
        self._s3_lock = threading.RLock()
        self._emit_lock = threading.RLock()
        self._tuning_jobs: dict[str, _TuningJob] = {}  # by lower-case name: names are not case sensitive
        self._training_jobs: dict[str, _TrainingJob] = {}
        self._models: dict[str, dict[str, Any]] = {}
        self._transform_jobs: dict[str, dict[str, Any]] = {}
        self._transform_stops: dict[str, threading.Event] = {}
        self._tags: dict[str, list[dict[str, str]]] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._training_failure: TrainingFailurePredicate | None = None
        self._transform_failures: dict[str | None, str] = {}

    # --- test hooks -------------------------------------------------------------------------------------

    def inject_fault(self, operation: str, code: str, message: str | None = None, times: int = 1) -> None:
        """The next ``times`` calls of ``operation`` (``CreateModel`` or ``create_model``) raise ``code``."""
        name = _METHOD_TO_OPERATION.get(operation, operation)
        if name not in _OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {sorted(_OPERATIONS)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        text = message or _DEFAULT_FAULT_MESSAGES.get(code, f"{code} (injected fault)")
        with self._lock:
            self._faults.setdefault(name, []).append(_Fault(code, text, times))

    def fail_training_jobs_when(self, predicate: TrainingFailurePredicate | None) -> None:
        """Training jobs for which ``predicate(name, hyperparameters)`` returns a reason fail with it."""
        self._training_failure = predicate

    def fail_transform_job(self, reason: str, name: str | None = None) -> None:
        """The transform job ``name`` (every transform job, if None) fails with ``reason``."""
        with self._lock:
            self._transform_failures[name] = reason

    # --- dispatch ---------------------------------------------------------------------------------------

    def call(self, operation_name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Runs the API operation ``operation_name`` (e.g. ``CreateModel``) with ``params``."""
        method = _OPERATIONS.get(operation_name)
        if method is None:
            raise client_error(
                operation_name,
                "UnknownOperationException",
                f"The offline SageMaker emulator does not implement {operation_name}; "
                f"it implements {', '.join(sorted(_OPERATIONS))}",
            )
        return getattr(self, method)(**(params or {}))

    def _begin(self, operation: str, request: dict[str, Any]) -> None:
        with self._lock:
            queue = self._faults.get(operation)
            if queue:
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.pop(0)
                status = 500 if fault.code in _SERVER_FAULTS else 400
                raise client_error(operation, fault.code, fault.message, status)
        validate_request(operation, request)

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        if self._listener is None:
            return
        try:
            with self._emit_lock:
                self._listener(event, json_safe(data))
        except Exception:  # a progress printer must never break a job
            logger.exception("the listener failed on %s", event)

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:{self.partition}:sagemaker:{self.region}:{self.account_id}:{kind}/{name.lower()}"

    # --- tuning jobs ------------------------------------------------------------------------------------

    def create_hyper_parameter_tuning_job(self, **request: Any) -> dict[str, Any]:
        operation = "CreateHyperParameterTuningJob"
        self._begin(operation, request)
        name = request["HyperParameterTuningJobName"]
        arn = self._arn("hyper-parameter-tuning-job", name)
        with self._lock:
            if name.lower() in self._tuning_jobs:
                raise client_error(
                    operation,
                    "ResourceInUse",
                    "Hyperparameter tuning job names must be unique within an AWS account and region, and a "
                    f"hyperparameter tuning job with this name already exists ({arn})",
                )
        plan = self._tuning_plan(operation, request)
        self._check_channels(operation, plan.channels, request["TrainingJobDefinition"].get("RoleArn", ""))
        job = _TuningJob(request=copy.deepcopy(request), arn=arn, plan=plan, creation_time=_now())
        with self._lock:
            if name.lower() in self._tuning_jobs:  # created meanwhile by another thread
                raise client_error(
                    operation, "ResourceInUse", f"Hyperparameter tuning job {name} already exists ({arn})"
                )
            self._tuning_jobs[name.lower()] = job
            self._tags[arn] = list(request.get("Tags") or [])
        try:
            self._run_tuning(job)
        except Exception as e:
            # An emulator bug: the job must not stay InProgress for a poller to wait on forever.
            with self._lock:
                job.status, job.end_time = "Failed", _now()
                job.failure_reason = f"InternalFailure: the offline emulator failed: {e!r}"[
                    :MAX_FAILURE_REASON
                ]
            raise
        return {"HyperParameterTuningJobArn": arn}

    def _tuning_plan(self, operation: str, request: dict[str, Any]) -> _TuningPlan:
        """The tuning job's settings, checked as SageMaker checks them before it starts anything."""

        def refuse(message: str) -> ClientError:
            return validation_exception(operation, message)

        for unsupported in ("TrainingJobDefinitions", "WarmStartConfig", "Autotune"):
            if request.get(unsupported):
                raise refuse(f"{unsupported} is not supported by the offline SageMaker emulator")
        definition = request.get("TrainingJobDefinition")
        if not definition:
            raise refuse("Either TrainingJobDefinition or TrainingJobDefinitions must be provided")
        config = request["HyperParameterTuningJobConfig"]
        algorithm_spec = definition["AlgorithmSpecification"]
        image = algorithm_spec.get("TrainingImage")
        if algorithm_spec.get("AlgorithmName") or not image:
            raise refuse(
                "The offline SageMaker emulator runs the built-in XGBoost algorithm: set TrainingImage"
            )
        if not _XGBOOST_IMAGE.search(image):
            if _LEGACY_XGBOOST_IMAGE.search(image):
                raise refuse(
                    f"TrainingImage {image} is the legacy XGBoost algorithm (0.72), which the offline "
                    "emulator does not run: use a sagemaker-xgboost:<version> image"
                )
            raise refuse(
                f"TrainingImage {image} is not the built-in XGBoost algorithm (sagemaker-xgboost), the only "
                "algorithm the offline SageMaker emulator runs"
            )
        objective = config.get("HyperParameterTuningJobObjective") or definition.get("TuningObjective")
        if not objective:
            raise refuse("HyperParameterTuningJobObjective is required")
        strategy = config["Strategy"]
        early_stopping = config.get("TrainingJobEarlyStoppingType", "Off") == "Auto"
        if strategy == "Hyperband" and early_stopping:
            raise refuse("TrainingJobEarlyStoppingType must be Off to use the Hyperband strategy")
        static = dict(definition.get("StaticHyperParameters") or {})
        try:
            space = hpo.search_space(
                config.get("ParameterRanges") or definition.get("HyperParameterRanges"), strategy
            )
            hyperband = hpo.hyperband_resources(config, static) if strategy == "Hyperband" else None
        except hpo.RangeError as e:
            raise refuse(str(e)) from None
        both = sorted({p.name for p in space} & set(static))
        if both:
            raise refuse(f"Hyperparameters cannot be both static and tuned: {', '.join(both)}")
        if config.get("StrategyConfig") and strategy != "Hyperband":
            raise refuse("StrategyConfig is only supported for the Hyperband strategy")
        limits = config["ResourceLimits"]
        max_jobs = limits.get("MaxNumberOfTrainingJobs")
        if strategy == "Grid":
            combinations = hpo.grid_size(space)
            if max_jobs is not None and max_jobs != combinations:
                raise refuse(
                    f"For the Grid strategy MaxNumberOfTrainingJobs must equal the number of distinct "
                    f"categorical combinations ({combinations}), got {max_jobs}"
                )
            max_jobs = combinations
        elif max_jobs is None:
            raise refuse(
                "The offline SageMaker emulator needs ResourceLimits.MaxNumberOfTrainingJobs for the "
                f"{strategy} strategy"
            )
        completion = config.get("TuningJobCompletionCriteria") or {}
        stopping = definition.get("StoppingCondition") or {}
        spot = bool(definition.get("EnableManagedSpotTraining"))
        max_wait = stopping.get("MaxWaitTimeInSeconds")
        # SageMaker's rules for managed spot training (StoppingCondition's documentation).
        if spot and max_wait is None:
            raise refuse("MaxWaitTimeInSeconds is required when EnableManagedSpotTraining is true")
        if not spot and max_wait is not None:
            raise refuse("MaxWaitTimeInSeconds is only supported with managed spot training")
        if max_wait is not None and max_wait < stopping.get("MaxRuntimeInSeconds", 0):
            raise refuse(
                f"MaxWaitTimeInSeconds ({max_wait}) must be equal to or greater than MaxRuntimeInSeconds "
                f"({stopping.get('MaxRuntimeInSeconds')})"
            )
        checkpoint = (definition.get("CheckpointConfig") or {}).get("S3Uri")
        if checkpoint is not None and not checkpoint.startswith("s3://"):
            raise refuse("CheckpointConfig.S3Uri: only s3:// URIs are supported offline")
        channels = list(definition.get("InputDataConfig") or [])
        for channel in channels:
            source = channel["DataSource"]
            s3 = source.get("S3DataSource")
            if s3 is None:
                raise refuse(f"Channel {channel['ChannelName']}: only S3 data sources are supported offline")
            if s3["S3DataType"] != "S3Prefix":
                raise refuse(
                    f"Channel {channel['ChannelName']}: S3DataType {s3['S3DataType']} is not supported "
                    "offline"
                )
            if not s3["S3Uri"].startswith("s3://"):
                raise refuse(f"Channel {channel['ChannelName']}: only s3:// URIs are supported offline")
        if not definition["OutputDataConfig"]["S3OutputPath"].startswith("s3://"):
            raise refuse("OutputDataConfig.S3OutputPath: only s3:// URIs are supported offline")
        return _TuningPlan(
            space=space,
            strategy=strategy,
            maximize=objective["Type"] == "Maximize",
            metric_name=objective["MetricName"],
            max_jobs=int(max_jobs),
            parallel=int(limits["MaxParallelTrainingJobs"]),
            seed=config.get("RandomSeed"),
            early_stopping=early_stopping,
            hyperband=hyperband,
            static=static,
            channels=channels,
            max_runtime=limits.get("MaxRuntimeInSeconds"),
            training_max_runtime=(definition.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds"),
            target=completion.get("TargetObjectiveMetricValue"),
            not_improving_limit=(completion.get("BestObjectiveNotImproving") or {}).get(
                "MaxNumberOfTrainingJobsNotImproving"
            ),
        )

    def _check_channels(self, operation: str, channels: list[dict[str, Any]], role_arn: str) -> None:
        # SageMaker lists every S3Prefix channel when the job is created, and refuses the request if nothing
        # is there (the message below is SageMaker's).
        for channel in channels:
            uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
            bucket, prefix = split_s3_uri(uri)
            try:
                found = self._s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0)
            except (ClientError, BotoCoreError):
                found = 0
            if not found:
                raise validation_exception(
                    operation,
                    f'No S3 objects found under S3 URL "{uri}" given in input data source. Please '
                    f"ensure that the bucket exists in the selected region ({self.region}), that objects "
                    f'exist under that S3 prefix, and that the role "{role_arn}" has "s3:ListBucket" '
                    f'permissions on bucket "{bucket}".',
                )

    def _run_tuning(self, job: _TuningJob) -> None:
        plan = job.plan
        started = time.monotonic()
        pruner: optuna.pruners.BasePruner
        if plan.hyperband is not None:
            pruner = optuna.pruners.HyperbandPruner(
                min_resource=plan.hyperband[0], max_resource=plan.hyperband[1]
            )
        elif plan.early_stopping:
            pruner = hpo.RunningAverageMedianPruner(maximize=plan.maximize)
        else:
            pruner = optuna.pruners.NopPruner()
        study = optuna.create_study(
            direction="maximize" if plan.maximize else "minimize",
            sampler=hpo.make_sampler(plan.strategy, plan.seed, plan.space),
            pruner=pruner,
        )
        distributions = {p.name: p.distribution() for p in plan.space}
        data_cache: dict[tuple[Any, ...], Any] = {}
        # The jobs of a batch run side by side, one thread (and one XGBoost thread) each; XGBoost releases the
        # GIL while it trains. Hyperband runs them one by one: its pruner compares a job with the others
        # running, which would make a seeded tuning job depend on thread timing.
        workers = 1 if plan.hyperband is not None else max(1, min(plan.parallel, os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="training-job") as pool:
            self._run_batches(job, study, pruner, distributions, data_cache, pool, started)
        self._finish_tuning(job)

    def _run_batches(
        self,
        job: _TuningJob,
        study: optuna.Study,
        pruner: optuna.pruners.BasePruner,
        distributions: dict[str, Any],
        data_cache: dict[tuple[Any, ...], Any],
        pool: ThreadPoolExecutor,
        started: float,
    ) -> None:
        plan = job.plan
        reporting = not isinstance(pruner, optuna.pruners.NopPruner)
        launched = 0
        while launched < plan.max_jobs:
            if self._tuning_should_stop(job, started):
                break
            if isinstance(pruner, hpo.RunningAverageMedianPruner):
                pruner.start_batch()
            batch = []
            for _ in range(min(plan.parallel, plan.max_jobs - launched)):
                launched += 1
                trial = study.ask(distributions)
                batch.append((trial, self._start_training_job(job, launched, trial)))
            runs = [
                pool.submit(self._run_training_job, job, training_job, trial, data_cache, reporting=reporting)
                for trial, training_job in batch
            ]
            for run in runs:
                run.result()  # re-raises an emulator bug; job failures are recorded on the job
            # Told in launch order, so the sampler's history does not depend on which thread finished first.
            for trial, training_job in batch:
                with self._lock:
                    self._update_best(job, training_job)
                self._tell(study, trial, training_job)
                if isinstance(pruner, hpo.RunningAverageMedianPruner) and training_job.history:
                    pruner.record_finished(training_job.history)
            if self._gave_up(job):
                break

    def _tuning_should_stop(self, job: _TuningJob, started: float) -> bool:
        plan = job.plan
        if job.stop_requested.is_set() or self._gave_up(job):
            return True
        if plan.max_runtime is not None and time.monotonic() - started >= plan.max_runtime:
            return True
        best = self._training_jobs.get(job.best) if job.best else None
        if plan.target is not None and best is not None and best.objective is not None:
            reached = best.objective >= plan.target if plan.maximize else best.objective <= plan.target
            if reached:
                return True
        return plan.not_improving_limit is not None and job.not_improving >= plan.not_improving_limit

    def _gave_up(self, job: _TuningJob) -> bool:
        jobs = [self._training_jobs[n] for n in job.training_jobs]
        succeeded = sum(1 for j in jobs if j.objective_status == "Succeeded")
        failed = sum(1 for j in jobs if j.description["TrainingJobStatus"] == "Failed")
        return succeeded == 0 and failed >= FAILED_ATTEMPTS_BEFORE_GIVING_UP

    def _start_training_job(self, job: _TuningJob, index: int, trial: optuna.trial.Trial) -> _TrainingJob:
        request = job.request
        definition = request["TrainingJobDefinition"]
        tuned = {p.name: p.value(trial.params[p.name]) for p in job.plan.space}
        name = f"{request['HyperParameterTuningJobName']}-{index:03d}-{uuid.uuid4().hex[:8]}"
        hyperparameters = {**job.plan.static, **tuned, "_tuning_objective_metric": job.plan.metric_name}
        now = _now()
        description: dict[str, Any] = {
            "TrainingJobName": name,
            "TrainingJobArn": self._arn("training-job", name),
            "TuningJobArn": job.arn,
            "TrainingJobStatus": "InProgress",
            "SecondaryStatus": "Starting",
            "HyperParameters": hyperparameters,
            "AlgorithmSpecification": copy.deepcopy(definition["AlgorithmSpecification"]),
            "RoleArn": definition["RoleArn"],
            "InputDataConfig": copy.deepcopy(definition.get("InputDataConfig") or []),
            "OutputDataConfig": copy.deepcopy(definition["OutputDataConfig"]),
            "ResourceConfig": copy.deepcopy(definition.get("ResourceConfig") or {}),
            "StoppingCondition": copy.deepcopy(definition["StoppingCondition"]),
            "CreationTime": now,
            "LastModifiedTime": now,
            "SecondaryStatusTransitions": [
                {
                    "Status": "Starting",
                    "StartTime": now,
                    "StatusMessage": "Preparing the instances for training",
                }
            ],
            "EnableNetworkIsolation": bool(definition.get("EnableNetworkIsolation", False)),
            "EnableInterContainerTrafficEncryption": bool(
                definition.get("EnableInterContainerTrafficEncryption", False)
            ),
            "EnableManagedSpotTraining": bool(definition.get("EnableManagedSpotTraining", False)),
        }
        for optional in ("VpcConfig", "CheckpointConfig", "RetryStrategy", "Environment"):
            if definition.get(optional):
                description[optional] = copy.deepcopy(definition[optional])
        training_job = _TrainingJob(description=description, tuned=tuned, index=index)
        with self._lock:
            self._training_jobs[name] = training_job
            job.training_jobs.append(name)
            job.last_modified = now
        self._emit(
            "training_job_started",
            {
                "name": name,
                "index": index,
                "tuningJob": request["HyperParameterTuningJobName"],
                "hyperparameters": tuned,
            },
        )
        return training_job

    def _run_training_job(
        self,
        job: _TuningJob,
        training_job: _TrainingJob,
        trial: optuna.trial.Trial,
        data_cache: dict[tuple[Any, ...], Any],
        *,
        reporting: bool,
    ) -> None:
        plan = job.plan
        description = training_job.description
        name = description["TrainingJobName"]
        started_at, started = _now(), time.monotonic()
        with self._lock:
            description["TrainingStartTime"] = started_at
        deadline = started + plan.training_max_runtime if plan.training_max_runtime else None
        metric = plan.metric_name.split(":", 1)

        def after_round(epoch: int, value: float | None) -> str | None:
            if job.stop_requested.is_set():
                return "stop_requested"
            if deadline is not None and time.monotonic() > deadline:
                return "max_runtime"
            if reporting and value is not None:
                trial.report(value, epoch)
                if trial.should_prune():
                    return "pruned"
            return None

        status, secondary, reason, outcome = "Completed", "Completed", None, None
        try:
            if job.stop_requested.is_set():
                raise _StoppedBeforeStart
            predicate = self._training_failure
            injected = predicate(name, dict(description["HyperParameters"])) if predicate else None
            if injected:
                raise algorithm.AlgorithmFailure(injected)
            config = algorithm.parse_hyperparameters(description["HyperParameters"])
            if plan.hyperband is not None:
                # Hyperband's resource is the boosting round; a job that reaches MaxResource is done.
                config = dataclasses.replace(config, num_round=min(config.num_round, plan.hyperband[1]))
            self._transition(training_job, "Downloading", "Downloading input data")
            hosts = self._hosts_in_training(description)
            train_data = self._channel(
                data_cache, description, "train", config.csv_weights, required=True, keys=hosts.get("train")
            )
            validation = self._channel(
                data_cache,
                description,
                "validation",
                config.csv_weights,
                required=False,
                keys=hosts.get("validation"),
            )
            self._transition(
                training_job, "Training", "Training image download completed. Training in progress."
            )
            outcome = algorithm.train(config, train_data, validation, after_round)
            self._transition(training_job, "Uploading", "Uploading generated training model")
            artifact = self._upload_model(description, outcome.model)
            with self._lock:
                description["ModelArtifacts"] = {"S3ModelArtifacts": artifact}
            if outcome.stop_reason == "max_runtime":
                status, secondary = "Stopped", "MaxRuntimeExceeded"
            elif outcome.stop_reason is not None:
                # Early-stopped jobs are Stopped; the built-in algorithms save the model trained so far.
                status, secondary = "Stopped", "Stopped"
        except algorithm.AlgorithmFailure as failure:
            status, secondary, reason = "Failed", "Failed", failure.reason[:MAX_FAILURE_REASON]
        except _StoppedBeforeStart:
            status, secondary = "Stopped", "Stopped"

        end = _now()
        objective = outcome.objective if outcome is not None and status != "Failed" else None
        seconds = time.monotonic() - started
        billable = (
            seconds * OFFLINE_SPOT_BILLABLE_SHARE if description["EnableManagedSpotTraining"] else seconds
        )
        with self._lock:
            description.update(
                TrainingJobStatus=status,
                SecondaryStatus=secondary,
                TrainingEndTime=end,
                LastModifiedTime=end,
                TrainingTimeInSeconds=max(1, round(seconds)),
                BillableTimeInSeconds=max(1, round(billable)),
            )
            if reason is not None:
                description["FailureReason"] = reason
            if outcome is not None:
                description["FinalMetricDataList"] = [
                    {"MetricName": metric_name, "Value": value, "Timestamp": end}
                    for metric_name, value in outcome.final_metrics().items()
                ]
                training_job.history = list(outcome.history.get(metric[0], {}).get(metric[-1], []))
                training_job.stop_reason = outcome.stop_reason
            message = {
                "Completed": "Training job completed",
                "Stopped": "Training job stopped",
                "MaxRuntimeExceeded": "Training job stopped: MaxRuntimeInSeconds reached",
                "Failed": reason or "Training job failed",
            }[secondary]
            self._close_transition(description, end)
            description["SecondaryStatusTransitions"].append(
                {"Status": secondary, "StartTime": end, "EndTime": end, "StatusMessage": message}
            )
            training_job.objective = objective
            training_job.objective_status = "Succeeded" if objective is not None else "Failed"
            job.last_modified = end
            best = self._best_finished(job)
        self._emit(
            "training_job_completed",
            {
                "name": name,
                "index": training_job.index,
                "tuningJob": job.request["HyperParameterTuningJobName"],
                "hyperparameters": training_job.tuned,
                "objective": {"name": plan.metric_name, "value": objective},
                "status": status,
                "secondaryStatus": secondary,
                "failureReason": reason,
                "rounds": outcome.rounds if outcome is not None else 0,
                "seconds": round(time.monotonic() - started, 3),
                "bestSoFar": None
                if best is None
                else {
                    "name": best.description["TrainingJobName"],
                    "objective": best.objective,
                    "hyperparameters": best.tuned,
                },
            },
        )

    def _best_finished(self, job: _TuningJob) -> _TrainingJob | None:
        """The best of the jobs finished so far (the tuning job's own best is updated batch by batch)."""
        finished = [j for n in job.training_jobs if (j := self._training_jobs[n]).objective is not None]
        if not finished:
            return None
        sign = -1.0 if job.plan.maximize else 1.0
        return min(finished, key=lambda j: (sign * (j.objective or 0.0), j.index))

    def _update_best(self, job: _TuningJob, candidate: _TrainingJob) -> None:
        if candidate.objective is None:
            job.not_improving += 1
            return
        current = self._training_jobs[job.best] if job.best else None
        if current is None or current.objective is None:
            job.best, job.not_improving = candidate.description["TrainingJobName"], 0
            return
        better = (
            candidate.objective > current.objective
            if job.plan.maximize
            else candidate.objective < current.objective
        )
        # BestObjectiveNotImproving counts jobs that do not improve the best by 1% or more.
        improvement = (current.objective - candidate.objective) * (-1 if job.plan.maximize else 1)
        significant = improvement >= 0.01 * abs(current.objective)
        if better:
            job.best = candidate.description["TrainingJobName"]
        job.not_improving = 0 if significant else job.not_improving + 1

    @staticmethod
    def _tell(study: optuna.Study, trial: optuna.trial.Trial, training_job: _TrainingJob) -> None:
        if training_job.objective is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        elif training_job.stop_reason == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, training_job.objective)

    def _transition(self, training_job: _TrainingJob, status: str, message: str) -> None:
        now = _now()
        with self._lock:
            description = training_job.description
            self._close_transition(description, now)
            description["SecondaryStatusTransitions"].append(
                {"Status": status, "StartTime": now, "StatusMessage": message}
            )
            description["SecondaryStatus"] = status
            description["LastModifiedTime"] = now

    @staticmethod
    def _close_transition(description: dict[str, Any], when: dt.datetime) -> None:
        transitions = description["SecondaryStatusTransitions"]
        if transitions and "EndTime" not in transitions[-1]:
            transitions[-1]["EndTime"] = when

    def _hosts_in_training(self, description: dict[str, Any]) -> dict[str, list[str]]:
        """With InstanceCount > 1, the S3 keys of each channel that the hosts taking part in training hold.

        SageMaker gives host i of n every n-th object of a ShardedByS3Key channel ("each instance gets
        approximately 1/n of the number of S3 objects"; API reference, S3DataSource), and every object of a
        FullyReplicated one. The built-in XGBoost trains over all hosts with Rabit (one model, histograms
        summed across hosts: the model of the union of their data). A host with no training file, or with no
        validation file when there is a validation channel, is left out of training and the job goes on,
        billed for every instance (sagemaker-xgboost-container, algorithm_mode/train.py, "does not have
        training data... will not be used in distributed training"; pull request #399). Channels whose keys
        are not returned are read whole.
        """
        count = int((description.get("ResourceConfig") or {}).get("InstanceCount", 1))
        channels = {c["ChannelName"]: c for c in description["InputDataConfig"]}
        sharded = {
            name: channel
            for name, channel in channels.items()
            if channel["DataSource"]["S3DataSource"].get("S3DataDistributionType") == "ShardedByS3Key"
        }
        if count <= 1 or not sharded:
            return {}
        per_host: dict[str, list[list[str]]] = {}
        for name, channel in sharded.items():
            bucket, prefix = split_s3_uri(channel["DataSource"]["S3DataSource"]["S3Uri"])
            with self._s3_lock:
                keys = self._list_keys(bucket, prefix)
            per_host[name] = [keys[host::count] for host in range(count)]
        needed = [name for name in ("train", "validation") if name in sharded]
        included = [host for host in range(count) if all(per_host[name][host] for name in needed)]
        left_out = [f"algo-{host + 1}" for host in range(count) if host not in included]
        if left_out:
            logger.warning(
                "training job %s: host(s) %s have no training or validation file (ShardedByS3Key over fewer "
                "objects than the %d instances) and are not used in distributed training, but are billed",
                description["TrainingJobName"],
                ", ".join(left_out),
                count,
            )
        # No host left: the channels are empty and the job fails as a single host without data does.
        return {name: [key for host in included for key in per_host[name][host]] for name in sharded}

    def _channel(
        self,
        cache: dict[tuple[Any, ...], Any],
        description: dict[str, Any],
        channel_name: str,
        csv_weights: int,
        *,
        required: bool,
        keys: list[str] | None = None,
    ) -> algorithm.ChannelData | None:
        channel = next((c for c in description["InputDataConfig"] if c["ChannelName"] == channel_name), None)
        if channel is None:
            if required:
                raise algorithm.client_error(f"Channel {channel_name} is required: add it to InputDataConfig")
            return None
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        selected = None if keys is None else tuple(sorted(keys))
        key = (uri, channel.get("ContentType"), channel.get("CompressionType"), csv_weights, selected)
        with self._s3_lock:
            if key not in cache:
                # Read once per tuning job; a failure is remembered too, so every job reports it alike.
                try:
                    cache[key] = self._read_channel(channel, csv_weights, selected)
                except algorithm.AlgorithmFailure as failure:
                    cache[key] = failure
            data = cache[key]
        if isinstance(data, algorithm.AlgorithmFailure):
            raise data
        if data is None:
            raise algorithm.client_error(
                f"No data in {channel_name} channel path {algorithm.CHANNEL_DIR}/{channel_name}"
            )
        return data

    def _read_channel(
        self, channel: dict[str, Any], csv_weights: int, keys: tuple[str, ...] | None = None
    ) -> algorithm.ChannelData | None:
        """The objects under the channel's S3Prefix in key order, or the ``keys`` of the hosts training."""
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, prefix = split_s3_uri(uri)
        files = []
        try:
            for key in self._list_keys(bucket, prefix) if keys is None else keys:
                body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                if channel.get("CompressionType") == "Gzip" or key.endswith(".gz"):
                    body = gzip.decompress(body)
                files.append((f"s3://{bucket}/{key}", body))
        except (ClientError, BotoCoreError, OSError) as e:
            raise algorithm.client_error(f"Data download failed: {e}") from None
        return algorithm.channel_data(files, channel["ChannelName"], channel.get("ContentType"), csv_weights)

    def _list_keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/"))
        return sorted(keys)

    def _upload_model(self, description: dict[str, Any], model: bytes) -> str:
        output = description["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        uri = f"{output}/{description['TrainingJobName']}/output/model.tar.gz"
        bucket, key = split_s3_uri(uri)
        body = algorithm.model_tarball(model)
        try:
            with self._s3_lock:
                self._s3.put_object(Bucket=bucket, Key=key, Body=body)
        except (ClientError, BotoCoreError) as e:
            raise algorithm.client_error(f"Failed to upload the model artifact to {uri}: {e}") from None
        return uri

    def _finish_tuning(self, job: _TuningJob) -> None:
        jobs = [self._training_jobs[n] for n in job.training_jobs]
        failed = sum(1 for j in jobs if j.description["TrainingJobStatus"] == "Failed")
        end = _now()
        with self._lock:
            if job.stop_requested.is_set():
                job.status = "Stopped"
            elif job.best is None and jobs:
                job.status = "Failed"
                if failed:
                    attempts = min(failed, FAILED_ATTEMPTS_BEFORE_GIVING_UP)
                    job.failure_reason = (
                        f"No training job succeeded after {attempts} attempts. For additional details, "
                        "please take a look at the training job failures by listing training jobs for the "
                        "hyperparameter tuning job."
                    )
                else:
                    job.failure_reason = (
                        f"No training job emitted the objective metric {job.plan.metric_name}. Check that "
                        "the metric's channel is in InputDataConfig."
                    )
            else:
                job.status = "Completed"
            job.end_time = job.last_modified = end
        description = self._describe_tuning(job)
        best = description.get("BestTrainingJob")
        self._emit(
            "tuning_job_completed",
            {
                "name": description["HyperParameterTuningJobName"],
                "status": description["HyperParameterTuningJobStatus"],
                "failureReason": description.get("FailureReason"),
                "trainingJobStatusCounters": description["TrainingJobStatusCounters"],
                "objectiveStatusCounters": description["ObjectiveStatusCounters"],
                "bestTrainingJob": None
                if best is None
                else {
                    "name": best["TrainingJobName"],
                    "objective": best["FinalHyperParameterTuningJobObjectiveMetric"],
                    "hyperparameters": best["TunedHyperParameters"],
                },
                "seconds": round((end - job.creation_time).total_seconds(), 3),
            },
        )

    def describe_hyper_parameter_tuning_job(self, **request: Any) -> dict[str, Any]:
        operation = "DescribeHyperParameterTuningJob"
        self._begin(operation, request)
        job = self._tuning_job(operation, request["HyperParameterTuningJobName"])
        return self._describe_tuning(job)

    def _describe_tuning(self, job: _TuningJob) -> dict[str, Any]:
        with self._lock:
            jobs = [self._training_jobs[n] for n in job.training_jobs]
            statuses = [j.description["TrainingJobStatus"] for j in jobs]
            definition = copy.deepcopy(job.request["TrainingJobDefinition"])
            # SageMaker adds the objective to the static hyperparameters it passes to every training job.
            definition["StaticHyperParameters"] = {
                **(definition.get("StaticHyperParameters") or {}),
                "_tuning_objective_metric": job.plan.metric_name,
            }
            response: dict[str, Any] = {
                "HyperParameterTuningJobName": job.request["HyperParameterTuningJobName"],
                "HyperParameterTuningJobArn": job.arn,
                "HyperParameterTuningJobConfig": copy.deepcopy(job.request["HyperParameterTuningJobConfig"]),
                "TrainingJobDefinition": definition,
                "HyperParameterTuningJobStatus": job.status,
                "CreationTime": job.creation_time,
                "LastModifiedTime": job.last_modified or job.creation_time,
                "TrainingJobStatusCounters": {
                    "Completed": statuses.count("Completed"),
                    "InProgress": statuses.count("InProgress"),
                    "RetryableError": 0,
                    "NonRetryableError": statuses.count("Failed"),
                    "Stopped": statuses.count("Stopped"),
                },
                "ObjectiveStatusCounters": {
                    "Succeeded": sum(1 for j in jobs if j.objective_status == "Succeeded"),
                    "Pending": sum(1 for j in jobs if j.objective_status == "Pending"),
                    "Failed": sum(1 for j in jobs if j.objective_status == "Failed"),
                },
                "TuningJobCompletionDetails": {
                    "NumberOfTrainingJobsObjectiveNotImproving": job.not_improving
                },
            }
            if job.end_time is not None:
                response["HyperParameterTuningEndTime"] = job.end_time
                response["ConsumedResources"] = {
                    "RuntimeInSeconds": max(1, round((job.end_time - job.creation_time).total_seconds()))
                }
            if job.best is not None:
                response["BestTrainingJob"] = self._summary(job, self._training_jobs[job.best])
            if job.failure_reason:
                response["FailureReason"] = job.failure_reason
            return response

    def _summary(self, job: _TuningJob, training_job: _TrainingJob) -> dict[str, Any]:
        description = training_job.description
        summary: dict[str, Any] = {
            "TrainingJobName": description["TrainingJobName"],
            "TrainingJobArn": description["TrainingJobArn"],
            "TuningJobName": job.request["HyperParameterTuningJobName"],
            "CreationTime": description["CreationTime"],
            "TrainingJobStatus": description["TrainingJobStatus"],
            "TunedHyperParameters": dict(training_job.tuned),
            "ObjectiveStatus": training_job.objective_status,
        }
        for key in ("TrainingStartTime", "TrainingEndTime", "FailureReason"):
            if key in description:
                summary[key] = description[key]
        if training_job.objective is not None:
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": "Maximize" if job.plan.maximize else "Minimize",
                "MetricName": job.plan.metric_name,
                "Value": training_job.objective,
            }
        return copy.deepcopy(summary)

    def _tuning_job(self, operation: str, name: str) -> _TuningJob:
        with self._lock:
            job = self._tuning_jobs.get(name.lower())
        if job is None:
            raise client_error(
                operation, "ResourceNotFound", f"Amazon SageMaker can't find a tuning job with name {name}"
            )
        return job

    def list_training_jobs_for_hyper_parameter_tuning_job(self, **request: Any) -> dict[str, Any]:
        operation = "ListTrainingJobsForHyperParameterTuningJob"
        self._begin(operation, request)
        job = self._tuning_job(operation, request["HyperParameterTuningJobName"])
        with self._lock:
            jobs = [self._training_jobs[n] for n in job.training_jobs]
            status = request.get("StatusEquals")
            if status:
                jobs = [j for j in jobs if j.description["TrainingJobStatus"] == status]
            sort_by = request.get("SortBy", "Name")
            if sort_by == "FinalObjectiveMetricValue":
                # As documented: jobs that did not return an objective metric are not listed.
                jobs = [j for j in jobs if j.objective is not None]
            keys: dict[str, Callable[[_TrainingJob], Any]] = {
                "Name": lambda j: j.description["TrainingJobName"],
                "CreationTime": lambda j: (j.description["CreationTime"], j.index),
                "Status": lambda j: (j.description["TrainingJobStatus"], j.description["TrainingJobName"]),
                "FinalObjectiveMetricValue": lambda j: (j.objective, j.index),
            }
            jobs.sort(key=keys[sort_by], reverse=request.get("SortOrder", "Ascending") == "Descending")
            start = self._page_start(operation, request.get("NextToken"), len(jobs))
            size = request.get("MaxResults", DEFAULT_LIST_MAX_RESULTS)
            page = jobs[start : start + size]
            response: dict[str, Any] = {"TrainingJobSummaries": [self._summary(job, j) for j in page]}
            if start + size < len(jobs):
                response["NextToken"] = base64.urlsafe_b64encode(
                    json.dumps({"offset": start + size}).encode()
                ).decode()
            return response

    @staticmethod
    def _page_start(operation: str, token: str | None, total: int) -> int:
        if not token:
            return 0
        try:
            offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
            if not isinstance(offset, int) or not 0 <= offset <= total:
                raise ValueError(offset)
        except (ValueError, KeyError, TypeError):
            raise validation_exception(operation, "Invalid pagination token") from None
        return offset

    def stop_hyper_parameter_tuning_job(self, **request: Any) -> dict[str, Any]:
        operation = "StopHyperParameterTuningJob"
        self._begin(operation, request)
        job = self._tuning_job(operation, request["HyperParameterTuningJobName"])
        with self._lock:
            if job.status != "InProgress":
                raise validation_exception(
                    operation,
                    f"The hyperparameter tuning job {job.request['HyperParameterTuningJobName']} cannot be "
                    f"stopped: its status is {job.status}",
                )
            job.stop_requested.set()
            job.status = "Stopping"
        return {}

    # --- training jobs ----------------------------------------------------------------------------------

    def describe_training_job(self, **request: Any) -> dict[str, Any]:
        operation = "DescribeTrainingJob"
        self._begin(operation, request)
        with self._lock:
            training_job = self._training_jobs.get(request["TrainingJobName"])
            if training_job is None:
                # SageMaker answers this with a ValidationException, not ResourceNotFound.
                raise validation_exception(operation, "Requested resource not found.")
            return copy.deepcopy(training_job.description)

    # --- models -----------------------------------------------------------------------------------------

    def create_model(self, **request: Any) -> dict[str, Any]:
        operation = "CreateModel"
        self._begin(operation, request)
        name = request["ModelName"]
        arn = self._arn("model", name)
        with self._lock:
            if name in self._models:
                raise validation_exception(operation, f'Cannot create already existing model "{arn}".')
        if request.get("Containers") or request.get("InferenceExecutionConfig"):
            raise validation_exception(
                operation, "Inference pipelines (Containers) are not supported offline"
            )
        container = request.get("PrimaryContainer")
        if not container:
            raise validation_exception(operation, "Either PrimaryContainer or Containers must be specified")
        url = container.get("ModelDataUrl")
        if url:
            if not url.startswith("s3://"):
                raise validation_exception(
                    operation, f"ModelDataUrl {url}: only s3:// URIs are supported offline"
                )
            bucket, key = split_s3_uri(url)
            try:
                self._s3.head_object(Bucket=bucket, Key=key)
            except (ClientError, BotoCoreError):
                raise validation_exception(operation, f"Could not find model data at {url}.") from None
        description = {**copy.deepcopy(request), "ModelArn": arn, "CreationTime": _now()}
        description.pop("Tags", None)
        with self._lock:
            if name in self._models:
                raise validation_exception(operation, f'Cannot create already existing model "{arn}".')
            self._models[name] = description
            self._tags[arn] = list(request.get("Tags") or [])
        self._emit(
            "model_created", {"name": name, "arn": arn, "modelDataUrl": url, "image": container.get("Image")}
        )
        return {"ModelArn": arn}

    def describe_model(self, **request: Any) -> dict[str, Any]:
        operation = "DescribeModel"
        self._begin(operation, request)
        with self._lock:
            model = self._models.get(request["ModelName"])
            if model is None:
                raise validation_exception(
                    operation, f'Could not find model "{self._arn("model", request["ModelName"])}".'
                )
            return copy.deepcopy(model)

    # --- transform jobs ---------------------------------------------------------------------------------

    def create_transform_job(self, **request: Any) -> dict[str, Any]:
        operation = "CreateTransformJob"
        self._begin(operation, request)
        name = request["TransformJobName"]
        arn = self._arn("transform-job", name)
        with self._lock:
            if name in self._transform_jobs:
                raise client_error(
                    operation,
                    "ResourceInUse",
                    "Transform job names must be unique within an AWS account and region, and a transform "
                    f"job with this name already exists ({arn})",
                )
            model = self._models.get(request["ModelName"])
        if model is None:
            raise validation_exception(
                operation, f'Could not find model "{self._arn("model", request["ModelName"])}".'
            )
        source = request["TransformInput"]["DataSource"]["S3DataSource"]
        if source["S3DataType"] != "S3Prefix":
            raise validation_exception(
                operation, f"S3DataType {source['S3DataType']} is not supported offline"
            )
        for uri in (source["S3Uri"], request["TransformOutput"]["S3OutputPath"]):
            if not uri.startswith("s3://"):
                raise validation_exception(operation, f"{uri}: only s3:// URIs are supported offline")
        now = _now()
        description = {
            **{k: copy.deepcopy(v) for k, v in request.items() if k != "Tags"},
            "TransformJobArn": arn,
            "TransformJobStatus": "InProgress",
            "CreationTime": now,
        }
        with self._lock:
            if name in self._transform_jobs:
                raise client_error(operation, "ResourceInUse", f"Transform job {name} already exists ({arn})")
            self._transform_jobs[name] = description
            self._transform_stops[name] = threading.Event()
            self._tags[arn] = list(request.get("Tags") or [])
        try:
            self._run_transform(description, model)
        except Exception as e:
            with self._lock:
                description["TransformJobStatus"] = "Failed"
                description["FailureReason"] = f"InternalFailure: the offline emulator failed: {e!r}"[
                    :MAX_FAILURE_REASON
                ]
            raise
        return {"TransformJobArn": arn}

    def _run_transform(self, description: dict[str, Any], model: dict[str, Any]) -> None:
        name = description["TransformJobName"]
        started = time.monotonic()
        with self._lock:
            description["TransformStartTime"] = _now()
            injected = self._transform_failures.get(name, self._transform_failures.get(None))
        outputs: list[str] = []
        records = 0
        reason: str | None = None
        try:
            if injected:
                raise algorithm.AlgorithmFailure(injected)
            settings = batch_transform.TransformSettings.from_request(description)
            settings.check()
            booster = self._load_booster(model)
            uri = description["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
            bucket, prefix = split_s3_uri(uri)
            try:
                keys = self._list_keys(bucket, prefix)
            except (ClientError, BotoCoreError):
                keys = []
            if not keys:
                raise algorithm.client_error(
                    f'No S3 objects found under S3 URL "{uri}" given in input data source.'
                )
            out_bucket, out_prefix = split_s3_uri(description["TransformOutput"]["S3OutputPath"])
            out_prefix = out_prefix.rstrip("/") + "/" if out_prefix.strip("/") else ""
            # Output keys keep the input key's path below the input prefix's last "/".
            base = prefix[: prefix.rfind("/") + 1]
            compression = description["TransformInput"].get("CompressionType") or "None"
            for key in keys:
                if self._transform_stops[name].is_set():
                    break
                try:
                    body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                    if compression == "Gzip":
                        body = gzip.decompress(body)
                    output, count = batch_transform.transform_object(
                        body, settings, lambda rows: algorithm.predict_csv(booster, rows)
                    )
                except algorithm.AlgorithmFailure as failure:
                    # SageMaker uploads the outputs of the objects that succeeded and fails the job.
                    reason = reason or f"{failure.reason} (input s3://{bucket}/{key})"
                    continue
                except (ClientError, BotoCoreError, OSError, UnicodeDecodeError) as e:
                    reason = reason or f"ClientError: could not read s3://{bucket}/{key}: {e}"
                    continue
                out_key = f"{out_prefix}{key[len(base) :]}.out"
                try:
                    self._s3.put_object(Bucket=out_bucket, Key=out_key, Body=output)
                except (ClientError, BotoCoreError) as e:
                    reason = reason or f"ClientError: could not write s3://{out_bucket}/{out_key}: {e}"
                    continue
                outputs.append(f"s3://{out_bucket}/{out_key}")
                records += count
        except algorithm.AlgorithmFailure as failure:
            reason = failure.reason
        with self._lock:
            if self._transform_stops[name].is_set():
                status = "Stopped"
            else:
                status = "Failed" if reason else "Completed"
            description["TransformJobStatus"] = status
            description["TransformEndTime"] = _now()
            if reason and status == "Failed":
                description["FailureReason"] = reason[:MAX_FAILURE_REASON]
        self._emit(
            "transform_job_completed",
            {
                "name": name,
                "status": status,
                "failureReason": description.get("FailureReason"),
                "outputs": outputs,
                "records": records,
                "seconds": round(time.monotonic() - started, 3),
            },
        )

    def _load_booster(self, model: dict[str, Any]) -> Any:
        url = (model.get("PrimaryContainer") or {}).get("ModelDataUrl")
        if not url:
            raise algorithm.client_error(
                f"Model {model['ModelName']} has no ModelDataUrl: there is no model to load"
            )
        bucket, key = split_s3_uri(url)
        try:
            tarball = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as e:
            raise algorithm.client_error(f"Could not download the model data at {url}: {e}") from None
        return algorithm.load_model(tarball)

    def describe_transform_job(self, **request: Any) -> dict[str, Any]:
        operation = "DescribeTransformJob"
        self._begin(operation, request)
        with self._lock:
            job = self._transform_jobs.get(request["TransformJobName"])
            if job is None:
                raise validation_exception(
                    operation, f"Could not find requested job with name {request['TransformJobName']}"
                )
            return copy.deepcopy(job)

    def stop_transform_job(self, **request: Any) -> dict[str, Any]:
        operation = "StopTransformJob"
        self._begin(operation, request)
        name = request["TransformJobName"]
        with self._lock:
            job = self._transform_jobs.get(name)
            if job is None:
                raise validation_exception(operation, f"Could not find requested job with name {name}")
            if job["TransformJobStatus"] != "InProgress":
                raise validation_exception(
                    operation,
                    f"The transform job {name} cannot be stopped: its status is {job['TransformJobStatus']}",
                )
            self._transform_stops[name].set()
            job["TransformJobStatus"] = "Stopping"
        return {}

    # --- tags -------------------------------------------------------------------------------------------

    def add_tags(self, **request: Any) -> dict[str, Any]:
        self._begin("AddTags", request)
        with self._lock:
            tags = self._tags.setdefault(request["ResourceArn"], [])
            for tag in request["Tags"]:
                tags[:] = [t for t in tags if t["Key"] != tag["Key"]]
                tags.append(dict(tag))
        return {"Tags": copy.deepcopy(request["Tags"])}

    def list_tags(self, **request: Any) -> dict[str, Any]:
        self._begin("ListTags", request)
        with self._lock:
            return {"Tags": copy.deepcopy(self._tags.get(request["ResourceArn"], []))}
