"""Tuning jobs: Optuna searches the request's ranges, batch by batch, with training jobs as trials."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import optuna

from offline import hpo
from offline.emulator.core import DEFAULT_LIST_MAX_RESULTS, MAX_FAILURE_REASON, Store
from offline.emulator.core import now as _now
from offline.emulator.training import TrainingJob, TrainingJobs
from offline.emulator.tuning_plan import TuningPlan, check_channels, tuning_plan
from offline.emulator.tuning_warm_start import overall_best, search_seed, seed_trials, warm_start_parents
from offline.request_validation import client_error, validation_exception

optuna.logging.set_verbosity(optuna.logging.WARNING)

# SageMaker gives up on a tuning job when its first training jobs all fail (the reason it reports names 5).
FAILED_ATTEMPTS_BEFORE_GIVING_UP = 5


@dataclass
class TuningJob:
    request: dict[str, Any]
    arn: str
    plan: TuningPlan
    creation_time: dt.datetime
    status: str = "InProgress"
    end_time: dt.datetime | None = None
    last_modified: dt.datetime | None = None
    failure_reason: str | None = None
    training_jobs: list[str] = field(default_factory=list)
    best: str | None = None
    not_improving: int = 0
    stop_requested: threading.Event = field(default_factory=threading.Event)
    # WarmStartConfig: the parents' evaluated configurations, finished trials the search starts from.
    seeds: list[optuna.trial.FrozenTrial] = field(default_factory=list)


class TuningJobs:
    """CreateHyperParameterTuningJob runs the whole tuning job; Describe, List and Stop report on it."""

    def __init__(self, store: Store, training: TrainingJobs) -> None:
        self.store = store
        self.training = training

    def create(self, **request: Any) -> dict[str, Any]:
        operation = "CreateHyperParameterTuningJob"
        self.store.begin(operation, request)
        name = request["HyperParameterTuningJobName"]
        arn = self.store.arn("hyper-parameter-tuning-job", name)
        with self.store.lock:
            if name.lower() in self.store.tuning_jobs:
                raise client_error(
                    operation,
                    "ResourceInUse",
                    "Hyperparameter tuning job names must be unique within an AWS account and region, and a "
                    f"hyperparameter tuning job with this name already exists ({arn})",
                )
        plan = tuning_plan(operation, request)
        parents = warm_start_parents(self.store, operation, request, plan)
        check_channels(
            self.store.s3,
            self.store.region,
            operation,
            plan.channels,
            request["TrainingJobDefinition"].get("RoleArn", ""),
        )
        job = TuningJob(request=copy.deepcopy(request), arn=arn, plan=plan, creation_time=_now())
        job.seeds = seed_trials(self.store, parents, plan)
        with self.store.lock:
            if name.lower() in self.store.tuning_jobs:  # created meanwhile by another thread
                raise client_error(
                    operation, "ResourceInUse", f"Hyperparameter tuning job {name} already exists ({arn})"
                )
            self.store.tuning_jobs[name.lower()] = job
            self.store.tags[arn] = list(request.get("Tags") or [])
        try:
            self._run_tuning(job)
        except Exception as e:
            # An emulator bug: the job must not stay InProgress for a poller to wait on forever.
            with self.store.lock:
                job.status, job.end_time = "Failed", _now()
                job.failure_reason = f"InternalFailure: the offline emulator failed: {e!r}"[
                    :MAX_FAILURE_REASON
                ]
            raise
        return {"HyperParameterTuningJobArn": arn}

    def _run_tuning(self, job: TuningJob) -> None:
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
            sampler=hpo.make_sampler(plan.strategy, search_seed(plan.seed, job.request), plan.space),
            pruner=pruner,
        )
        study.add_trials(job.seeds)
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
        job: TuningJob,
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
                batch.append((trial, self.training.start(job, launched, trial)))
            runs = [
                pool.submit(self.training.run, job, training_job, trial, data_cache, reporting=reporting)
                for trial, training_job in batch
            ]
            for run in runs:
                run.result()  # re-raises an emulator bug; job failures are recorded on the job
            # Told in launch order, so the sampler's history does not depend on which thread finished first.
            for trial, training_job in batch:
                with self.store.lock:
                    self._update_best(job, training_job)
                self._tell(study, trial, training_job)
                if isinstance(pruner, hpo.RunningAverageMedianPruner) and training_job.history:
                    pruner.record_finished(training_job.history)
            if self._gave_up(job):
                break

    def _tuning_should_stop(self, job: TuningJob, started: float) -> bool:
        plan = job.plan
        if job.stop_requested.is_set() or self._gave_up(job):
            return True
        if plan.max_runtime is not None and time.monotonic() - started >= plan.max_runtime:
            return True
        best = self.store.training_jobs.get(job.best) if job.best else None
        if plan.target is not None and best is not None and best.objective is not None:
            reached = best.objective >= plan.target if plan.maximize else best.objective <= plan.target
            if reached:
                return True
        return plan.not_improving_limit is not None and job.not_improving >= plan.not_improving_limit

    def _gave_up(self, job: TuningJob) -> bool:
        jobs = [self.store.training_jobs[n] for n in job.training_jobs]
        succeeded = sum(1 for j in jobs if j.objective_status == "Succeeded")
        failed = sum(1 for j in jobs if j.description["TrainingJobStatus"] == "Failed")
        return succeeded == 0 and failed >= FAILED_ATTEMPTS_BEFORE_GIVING_UP

    def _update_best(self, job: TuningJob, candidate: TrainingJob) -> None:
        if candidate.objective is None:
            job.not_improving += 1
            return
        current = self.store.training_jobs[job.best] if job.best else None
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
    def _tell(study: optuna.Study, trial: optuna.trial.Trial, training_job: TrainingJob) -> None:
        if training_job.objective is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        elif training_job.stop_reason == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, training_job.objective)

    def _finish_tuning(self, job: TuningJob) -> None:
        jobs = [self.store.training_jobs[n] for n in job.training_jobs]
        failed = sum(1 for j in jobs if j.description["TrainingJobStatus"] == "Failed")
        end = _now()
        with self.store.lock:
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
        self.store.emit(
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

    def describe(self, **request: Any) -> dict[str, Any]:
        operation = "DescribeHyperParameterTuningJob"
        self.store.begin(operation, request)
        job = self._tuning_job(operation, request["HyperParameterTuningJobName"])
        return self._describe_tuning(job)

    def _describe_tuning(self, job: TuningJob) -> dict[str, Any]:
        with self.store.lock:
            jobs = [self.store.training_jobs[n] for n in job.training_jobs]
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
                response["BestTrainingJob"] = self._summary(job, self.store.training_jobs[job.best])
            if job.failure_reason:
                response["FailureReason"] = job.failure_reason
            if job.request.get("WarmStartConfig"):
                response["WarmStartConfig"] = copy.deepcopy(job.request["WarmStartConfig"])
                overall = overall_best(self.store, job)
                if overall is not None:
                    response["OverallBestTrainingJob"] = self._summary(*overall)
            return response

    def _summary(self, job: TuningJob, training_job: TrainingJob) -> dict[str, Any]:
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

    def _tuning_job(self, operation: str, name: str) -> TuningJob:
        with self.store.lock:
            job = self.store.tuning_jobs.get(name.lower())
        if job is None:
            raise client_error(
                operation, "ResourceNotFound", f"Amazon SageMaker can't find a tuning job with name {name}"
            )
        return job

    def list_training_jobs(self, **request: Any) -> dict[str, Any]:
        operation = "ListTrainingJobsForHyperParameterTuningJob"
        self.store.begin(operation, request)
        job = self._tuning_job(operation, request["HyperParameterTuningJobName"])
        with self.store.lock:
            jobs = [self.store.training_jobs[n] for n in job.training_jobs]
            status = request.get("StatusEquals")
            if status:
                jobs = [j for j in jobs if j.description["TrainingJobStatus"] == status]
            sort_by = request.get("SortBy", "Name")
            if sort_by == "FinalObjectiveMetricValue":
                # As documented: jobs that did not return an objective metric are not listed.
                jobs = [j for j in jobs if j.objective is not None]
            keys: dict[str, Callable[[TrainingJob], Any]] = {
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

    def list_tuning_jobs(self, **request: Any) -> dict[str, Any]:
        """ListHyperParameterTuningJobs: the summaries of the tuning jobs this emulator created."""
        operation = "ListHyperParameterTuningJobs"
        self.store.begin(operation, request)
        with self.store.lock:
            jobs = list(enumerate(self.store.tuning_jobs.values()))
        contains = (request.get("NameContains") or "").lower()
        status = request.get("StatusEquals")
        summaries = []
        for order, job in jobs:
            description = self._describe_tuning(job)
            name = description["HyperParameterTuningJobName"]
            if contains not in name.lower() or (
                status and description["HyperParameterTuningJobStatus"] != status
            ):
                continue
            summary = {
                key: description[key]
                for key in (
                    "HyperParameterTuningJobName",
                    "HyperParameterTuningJobArn",
                    "HyperParameterTuningJobStatus",
                    "CreationTime",
                    "HyperParameterTuningEndTime",
                    "LastModifiedTime",
                    "TrainingJobStatusCounters",
                    "ObjectiveStatusCounters",
                )
                if key in description
            }
            config = description["HyperParameterTuningJobConfig"]
            summary["Strategy"] = config["Strategy"]
            summary["ResourceLimits"] = copy.deepcopy(config["ResourceLimits"])
            summaries.append((order, summary))
        keys: dict[str, Callable[[tuple[int, dict[str, Any]]], Any]] = {
            "Name": lambda item: item[1]["HyperParameterTuningJobName"],
            "Status": lambda item: (item[1]["HyperParameterTuningJobStatus"], item[0]),
            "CreationTime": lambda item: (item[1]["CreationTime"], item[0]),
        }
        summaries.sort(
            key=keys[request.get("SortBy", "Name")], reverse=request.get("SortOrder") == "Descending"
        )
        start = self._page_start(operation, request.get("NextToken"), len(summaries))
        size = request.get("MaxResults", DEFAULT_LIST_MAX_RESULTS)
        response: dict[str, Any] = {
            "HyperParameterTuningJobSummaries": [summary for _, summary in summaries[start : start + size]]
        }
        if start + size < len(summaries):
            response["NextToken"] = base64.urlsafe_b64encode(
                json.dumps({"offset": start + size}).encode()
            ).decode()
        return response

    def stop(self, **request: Any) -> dict[str, Any]:
        operation = "StopHyperParameterTuningJob"
        self.store.begin(operation, request)
        job = self._tuning_job(operation, request["HyperParameterTuningJobName"])
        with self.store.lock:
            if job.status != "InProgress":
                raise validation_exception(
                    operation,
                    f"The hyperparameter tuning job {job.request['HyperParameterTuningJobName']} cannot be "
                    f"stopped: its status is {job.status}",
                )
            job.stop_requested.set()
            job.status = "Stopping"
        return {}
