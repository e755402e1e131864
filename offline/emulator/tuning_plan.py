"""A tuning job's request, checked as SageMaker checks it before it starts anything, and its plan."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from offline import container_rules, hpo
from offline.emulator.core import split_s3_uri
from offline.request_validation import validation_exception

_XGBOOST_IMAGE = re.compile(r"(^|/)sagemaker-xgboost(:[^/@]+|@sha256:[0-9a-f]+)?$")
_LEGACY_XGBOOST_IMAGE = re.compile(r"(^|/)xgboost(:[^/@]+)?$")


@dataclass
class TuningPlan:
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
    version: str  # of the XGBoost container, from the image tag


def tuning_plan(operation: str, request: dict[str, Any]) -> TuningPlan:
    """The tuning job's settings, checked as SageMaker checks them before it starts anything."""

    def refuse(message: str) -> ClientError:
        return validation_exception(operation, message)

    for unsupported in ("TrainingJobDefinitions", "Autotune"):
        if request.get(unsupported):
            raise refuse(f"{unsupported} is not supported by the offline SageMaker emulator")
    definition = request.get("TrainingJobDefinition")
    if not definition:
        raise refuse("Either TrainingJobDefinition or TrainingJobDefinitions must be provided")
    config = request["HyperParameterTuningJobConfig"]
    algorithm_spec = definition["AlgorithmSpecification"]
    image = algorithm_spec.get("TrainingImage")
    if algorithm_spec.get("AlgorithmName") or not image:
        raise refuse("The offline SageMaker emulator runs the built-in XGBoost algorithm: set TrainingImage")
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
    try:
        version = container_rules.version_from_image(image)
    except ValueError as e:
        raise refuse(f"{e}: give TrainingImage a version tag") from None
    container = container_rules.rules(version)
    objective = config.get("HyperParameterTuningJobObjective") or definition.get("TuningObjective")
    if not objective:
        raise refuse("HyperParameterTuningJobObjective is required")
    _check_objective(refuse, container, objective)
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
    _check_tunable(refuse, container, space)
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
                f"Channel {channel['ChannelName']}: S3DataType {s3['S3DataType']} is not supported offline"
            )
        if not s3["S3Uri"].startswith("s3://"):
            raise refuse(f"Channel {channel['ChannelName']}: only s3:// URIs are supported offline")
    if not definition["OutputDataConfig"]["S3OutputPath"].startswith("s3://"):
        raise refuse("OutputDataConfig.S3OutputPath: only s3:// URIs are supported offline")
    return TuningPlan(
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
        version=version,
    )


def _check_objective(
    refuse: Callable[[str], ClientError], container: container_rules.ContainerRules, objective: dict[str, Any]
) -> None:
    """SageMaker refuses, at the call, an objective the built-in algorithm does not offer for tuning, or one
    tuned the wrong way: the algorithm's specification lists its tuning metrics
    (TrainingSpecification.SupportedTuningJobObjectiveMetrics in the API reference), and "Tune an XGBoost
    Model" ("Evaluation Metrics Computed by the XGBoost Algorithm") gives each its optimization direction."""
    name, kind = objective["MetricName"], objective["Type"]
    direction = container.tuning_metrics.get(name)
    if direction is None:
        raise refuse(
            f"The objective metric {name} is not one the XGBoost algorithm {container.version} emits for "
            f"tuning; choose one of {', '.join(sorted(container.tuning_metrics))}"
        )
    if kind != direction:
        raise refuse(
            f"The objective metric {name} of the XGBoost algorithm {container.version} must be tuned with "
            f"Type {direction}, not {kind}"
        )


def _check_tunable(
    refuse: Callable[[str], ClientError],
    container: container_rules.ContainerRules,
    space: list[hpo.TunedParameter],
) -> None:
    """SageMaker refuses, at the call, a range of a hyperparameter the built-in algorithm does not declare
    tunable (HyperParameterSpecification.IsTunable in the API reference; "Tune an XGBoost Model", "Tunable
    XGBoost Hyperparameters")."""
    untunable = sorted(p.name for p in space if p.name not in container.tunable)
    if untunable:
        raise refuse(
            f"The hyperparameter(s) {', '.join(untunable)} cannot be tuned for the XGBoost algorithm "
            f"{container.version}: set them in StaticHyperParameters, or tune only "
            f"{', '.join(sorted(container.tunable))}"
        )


def check_channels(
    s3: Any, region: str, operation: str, channels: list[dict[str, Any]], role_arn: str
) -> None:
    # SageMaker lists every S3Prefix channel when the job is created, and refuses the request if nothing
    # is there (the message below is SageMaker's).
    for channel in channels:
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, prefix = split_s3_uri(uri)
        try:
            found = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0)
        except (ClientError, BotoCoreError):
            found = 0
        if not found:
            raise validation_exception(
                operation,
                f'No S3 objects found under S3 URL "{uri}" given in input data source. Please '
                f"ensure that the bucket exists in the selected region ({region}), that objects "
                f'exist under that S3 prefix, and that the role "{role_arn}" has "s3:ListBucket" '
                f'permissions on bucket "{bucket}".',
            )
