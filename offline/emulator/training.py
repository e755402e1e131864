"""Training jobs: each one the built-in XGBoost algorithm on its channels, started by a tuning job."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import gzip
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from botocore.exceptions import BotoCoreError, ClientError

from offline import channels
from offline import xgboost_algorithm as algorithm
from offline.emulator.core import MAX_FAILURE_REASON, Store, split_s3_uri
from offline.emulator.core import now as _now
from offline.request_validation import validation_exception

if TYPE_CHECKING:
    from offline.emulator.tuning import TuningJob

logger = logging.getLogger(__name__)

# Managed spot training bills a share of the training time (AWS: savings up to 90%, depending on spot
# prices). The emulator cannot know the market: it assumes 70% savings, so BillableTimeInSeconds of a spot
# job is 30% of its TrainingTimeInSeconds (at least 1 s). Only cost reports read it.
OFFLINE_SPOT_BILLABLE_SHARE = 0.3


class _StoppedBeforeStart(Exception):
    """StopHyperParameterTuningJob came before this training job started."""


@dataclass
class TrainingJob:
    description: dict[str, Any]
    tuned: dict[str, str]
    index: int
    objective: float | None = None
    objective_status: str = "Pending"
    history: list[float] = field(default_factory=list)
    stop_reason: str | None = None


def best_finished(store: Store, job: TuningJob) -> TrainingJob | None:
    """The best of the jobs finished so far (the tuning job's own best is updated batch by batch)."""
    finished = [j for n in job.training_jobs if (j := store.training_jobs[n]).objective is not None]
    if not finished:
        return None
    sign = -1.0 if job.plan.maximize else 1.0
    return min(finished, key=lambda j: (sign * (j.objective or 0.0), j.index))


class TrainingJobs:
    """Starts and runs a tuning job's training jobs; answers DescribeTrainingJob."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def start(self, job: TuningJob, index: int, trial: optuna.trial.Trial) -> TrainingJob:
        request = job.request
        definition = request["TrainingJobDefinition"]
        tuned = {p.name: p.value(trial.params[p.name]) for p in job.plan.space}
        name = f"{request['HyperParameterTuningJobName']}-{index:03d}-{uuid.uuid4().hex[:8]}"
        hyperparameters = {**job.plan.static, **tuned, "_tuning_objective_metric": job.plan.metric_name}
        now = _now()
        description: dict[str, Any] = {
            "TrainingJobName": name,
            "TrainingJobArn": self.store.arn("training-job", name),
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
        training_job = TrainingJob(description=description, tuned=tuned, index=index)
        with self.store.lock:
            self.store.training_jobs[name] = training_job
            job.training_jobs.append(name)
            job.last_modified = now
        self.store.emit(
            "training_job_started",
            {
                "name": name,
                "index": index,
                "tuningJob": request["HyperParameterTuningJobName"],
                "hyperparameters": tuned,
            },
        )
        return training_job

    def run(
        self,
        job: TuningJob,
        training_job: TrainingJob,
        trial: optuna.trial.Trial,
        data_cache: dict[tuple[Any, ...], Any],
        *,
        reporting: bool,
    ) -> None:
        plan = job.plan
        description = training_job.description
        name = description["TrainingJobName"]
        started_at, started = _now(), time.monotonic()
        with self.store.lock:
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
            predicate = self.store.faults.training_failure
            injected = predicate(name, dict(description["HyperParameters"])) if predicate else None
            if injected:
                raise algorithm.AlgorithmFailure(injected)
            config = algorithm.parse_hyperparameters(description["HyperParameters"], version=plan.version)
            mode = description["AlgorithmSpecification"].get("TrainingInputMode") or "File"
            channels.check_channels(description["InputDataConfig"], mode)
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
            # A stopped job's container gets SIGTERM: it keeps the model trained so far only when
            # save_model_on_termination is "true" (callback.py saves it after every round); otherwise its
            # model directory is empty, and SageMaker uploads that.
            saved = outcome.stop_reason is None or config.save_model_on_termination
            artifact = self._upload_model(description, outcome.model if saved else None)
            with self.store.lock:
                description["ModelArtifacts"] = {"S3ModelArtifacts": artifact}
            if outcome.stop_reason == "max_runtime":
                status, secondary = "Stopped", "MaxRuntimeExceeded"
            elif outcome.stop_reason is not None:
                # Stopped by early stopping, Hyperband or StopHyperParameterTuningJob.
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
        with self.store.lock:
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
            best = best_finished(self.store, job)
        self.store.emit(
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

    def _transition(self, training_job: TrainingJob, status: str, message: str) -> None:
        now = _now()
        with self.store.lock:
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
            with self.store.s3_lock:
                keys = self.store.list_keys(bucket, prefix)
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
        with self.store.s3_lock:
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
            for key in self.store.list_keys(bucket, prefix) if keys is None else keys:
                body = self.store.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                # SageMaker decompresses in Pipe mode only; File mode copies objects as they are.
                if channel.get("InputMode") == "Pipe" and channel.get("CompressionType") == "Gzip":
                    body = gzip.decompress(body)
                files.append((f"s3://{bucket}/{key}", body))
        except (ClientError, BotoCoreError, OSError) as e:
            raise algorithm.client_error(f"Data download failed: {e}") from None
        return channels.read_channel(files, channel, csv_weights)

    def _upload_model(self, description: dict[str, Any], model: bytes | dict[str, bytes] | None) -> str:
        """Uploads ``model.tar.gz`` where SageMaker puts it; None: an empty model directory's tarball."""
        output = description["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        uri = f"{output}/{description['TrainingJobName']}/output/model.tar.gz"
        bucket, key = split_s3_uri(uri)
        body = algorithm.model_tarball({} if model is None else model)
        try:
            with self.store.s3_lock:
                self.store.s3.put_object(Bucket=bucket, Key=key, Body=body)
        except (ClientError, BotoCoreError) as e:
            raise algorithm.client_error(f"Failed to upload the model artifact to {uri}: {e}") from None
        return uri

    # --- training jobs ----------------------------------------------------------------------------------

    def describe_training_job(self, **request: Any) -> dict[str, Any]:
        operation = "DescribeTrainingJob"
        self.store.begin(operation, request)
        with self.store.lock:
            training_job = self.store.training_jobs.get(request["TrainingJobName"])
            if training_job is None:
                # SageMaker answers this with a ValidationException, not ResourceNotFound.
                raise validation_exception(operation, "Requested resource not found.")
            return copy.deepcopy(training_job.description)
