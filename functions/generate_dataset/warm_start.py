"""The execution input's ``warmStart``: the parent tuning jobs checked as SageMaker checks them, and the
WarmStartConfig the tuning state sends.

SageMaker's rules ("Run a Warm Start Hyperparameter Tuning Job", Warm Start Tuning Restrictions, in the
SageMaker developer guide): at most 5 parents (the schema's maxItems), each in a terminal state (Completed,
Stopped or Failed), each tuned the same objective metric, and the parents' training jobs together with the new
job's count against the 500 training jobs of one tuning job. A tuning job that does not exist is refused
(DescribeHyperParameterTuningJob answers ResourceNotFound). Checked here, before any data is written, so a bad
parent costs nothing and the message names it; SageMaker makes the same checks again when the tuning job is
created.

The parents are this stack's tuning jobs: their names start with the stack's token, the grant to describe
them names ``<token>-*`` and nothing else. ``previous`` names the latest Completed one
(ListHyperParameterTuningJobs, newest first).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

PREVIOUS = "previous"
# TransferLearning accepts what IdenticalDataAndAlgorithm refuses (other data, another XGBoost version); every
# run writes its own data set, so "the same data" is the exception, not the rule.
DEFAULT_TYPE = "TransferLearning"
# Terminal states of a tuning job: a parent must be in one of them (the restrictions above).
FINISHED = ("Completed", "Stopped", "Failed")
# A tuning job runs at most 500 training jobs, its parents' included (the restrictions above, and
# ResourceLimits.MaxNumberOfTrainingJobs in the API reference).
MAX_TRAINING_JOBS = 500
_NOT_FOUND = ("ResourceNotFound", "ResourceNotFoundException", "ValidationException")


class WarmStartParentInvalid(ValueError):
    """A parent tuning job of warmStart is unknown, unfinished, or incompatible with this run's tuning job."""


def warm_start_config(
    sagemaker: Any,
    warm_start: Mapping[str, Any],
    token: str,
    objective: Mapping[str, Any],
    max_training_jobs: int,
) -> dict[str, Any]:
    """The WarmStartConfig for a schema-checked ``warmStart``, or WarmStartParentInvalid naming the parents
    that cannot be used and why."""
    latest = _latest_completed(sagemaker, token) if PREVIOUS in warm_start["parents"] else None
    names = [latest if name == PREVIOUS else name for name in warm_start["parents"]]
    seen: set[str] = set()
    for name in names:
        # SageMaker's names are not case sensitive: "Run-1" and "run-1" are one job.
        if name.lower() in seen:
            also = f' ("previous" is {latest})' if latest else ""
            raise WarmStartParentInvalid(
                f"warmStart.parents names the tuning job {name} twice{also}: list each parent once"
            )
        seen.add(name.lower())
    foreign = [name for name in names if not name.lower().startswith(f"{token}-")]
    if foreign:
        verb = "is not a tuning job" if len(foreign) == 1 else "are not tuning jobs"
        raise WarmStartParentInvalid(
            f"warmStart.parents: {', '.join(foreign)} {verb} of this stack (whose names start with its token "
            f"{token}-); the state machine may read only its own tuning jobs"
        )
    problems: list[str] = []
    parents_jobs = 0
    for name in names:
        try:
            parent = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in _NOT_FOUND:
                problems.append(f"{name} does not exist")
                continue
            raise
        status = parent["HyperParameterTuningJobStatus"]
        if status not in FINISHED:
            problems.append(f"{name} is {status}, not finished (Completed, Stopped or Failed)")
            continue
        metric = (parent["HyperParameterTuningJobConfig"].get("HyperParameterTuningJobObjective") or {}).get(
            "MetricName"
        )
        if metric != objective["MetricName"]:
            problems.append(
                f"{name} tuned the objective metric {metric}, this run tunes {objective['MetricName']}"
            )
            continue
        parents_jobs += sum(parent.get("TrainingJobStatusCounters", {}).values())
    if problems:
        raise WarmStartParentInvalid("warmStart.parents cannot be used: " + "; ".join(problems))
    if parents_jobs + max_training_jobs > MAX_TRAINING_JOBS:
        raise WarmStartParentInvalid(
            f"the parents ran {parents_jobs} training jobs and this run may start {max_training_jobs}: "
            f"together more than the {MAX_TRAINING_JOBS} a warm-started tuning job may count; name fewer "
            "parents or lower maxTrainingJobs"
        )
    return {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": name} for name in names],
        "WarmStartType": warm_start.get("type", DEFAULT_TYPE),
    }


def _latest_completed(sagemaker: Any, token: str) -> str:
    """The name of this stack's latest Completed tuning job. NameContains may match another stack's job whose
    name holds the token elsewhere: only names that start with it count."""
    request: dict[str, Any] = {
        "NameContains": token,
        "StatusEquals": "Completed",
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
        "MaxResults": 100,
    }
    while True:
        page = sagemaker.list_hyper_parameter_tuning_jobs(**request)
        for summary in page.get("HyperParameterTuningJobSummaries", []):
            if summary["HyperParameterTuningJobName"].lower().startswith(f"{token}-"):
                return summary["HyperParameterTuningJobName"]
        if not page.get("NextToken"):
            break
        request["NextToken"] = page["NextToken"]
    raise WarmStartParentInvalid(
        f'warmStart.parents names "previous", but this stack has no Completed tuning job yet (none whose '
        f"name starts with {token}-): run once without warmStart first"
    )
