"""Warm start: a tuning job's WarmStartConfig checked as SageMaker checks it at CreateHyperParameterTuningJob,
and the parents' evaluated configurations that seed its search.

The rules are the Warm Start Tuning Restrictions of "Run a Warm Start Hyperparameter Tuning Job" (SageMaker
developer guide) and the two warm start types it describes; each check below names its rule. The parents are
the emulator's own tuning jobs: it keeps them for the life of the process, so a parent from another run of
``python -m offline`` is unknown here, as a job of another account is to SageMaker.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from offline import hpo
from offline.emulator.core import Store
from offline.emulator.tuning_plan import TuningPlan
from offline.request_validation import client_error, validation_exception

if TYPE_CHECKING:
    from offline.emulator.tuning import TuningJob

# "all parent jobs must be in a terminal state (Completed, Stopped, or Failed)".
TERMINAL = ("Completed", "Stopped", "Failed")
# "The training jobs launched by every parent job ... count against the 500 maximum training jobs".
MAX_TRAINING_JOBS = 500
# "The number of total changes from tunable hyperparameters in the parent jobs to static hyperparameters
# in the new tuning job, plus the number of changes in the values of static hyperparameters cannot be more
# than 10".
MAX_STATIC_CHANGES = 10
# Added by SageMaker itself to every training job's hyperparameters; not the user's.
_INTERNAL = "_tuning_objective_metric"


def warm_start_parents(
    store: Store, operation: str, request: dict[str, Any], plan: TuningPlan
) -> list[TuningJob]:
    """The parent tuning jobs of ``request``'s WarmStartConfig (none without one), or SageMaker's error."""
    config = request.get("WarmStartConfig")
    if not config:
        return []

    def refuse(message: str) -> ClientError:
        return validation_exception(operation, message)

    parents = []
    with store.lock:
        for item in config["ParentHyperParameterTuningJobs"]:
            name = item["HyperParameterTuningJobName"]
            parent = store.tuning_jobs.get(name.lower())
            if parent is None:
                # DescribeHyperParameterTuningJob's answer for an unknown job; SageMaker does not document
                # which code Create gives for an unknown parent.
                raise client_error(
                    operation,
                    "ResourceNotFound",
                    f"Amazon SageMaker can't find a tuning job with name {name}",
                )
            parents.append(parent)
    names = [p.request["HyperParameterTuningJobName"].lower() for p in parents]
    if len(set(names)) != len(names):
        raise refuse("ParentHyperParameterTuningJobs must not name a tuning job twice")
    counted = plan.max_jobs
    for parent in parents:
        parent_name = parent.request["HyperParameterTuningJobName"]
        if parent.status not in TERMINAL:
            raise refuse(
                f"The parent tuning job {parent_name} is {parent.status}: warm start needs parents in a "
                f"terminal state ({', '.join(TERMINAL)})"
            )
        if parent.plan.metric_name != plan.metric_name:
            raise refuse(
                f"The objective metric {plan.metric_name} differs from the parent tuning job {parent_name}'s "
                f"{parent.plan.metric_name}: a warm start tuning job must use its parents' objective metric"
            )
        _check_hyperparameters(refuse, parent_name, parent.plan, plan)
        if config["WarmStartType"] == "IdenticalDataAndAlgorithm":
            # IdenticalDataAndAlgorithm: "the same input data and training image as the parent tuning jobs".
            image = request["TrainingJobDefinition"]["AlgorithmSpecification"].get("TrainingImage")
            parent_image = parent.request["TrainingJobDefinition"]["AlgorithmSpecification"].get(
                "TrainingImage"
            )
            if image != parent_image:
                raise refuse(
                    f"WarmStartType IdenticalDataAndAlgorithm needs the parent tuning job {parent_name}'s "
                    f"training image {parent_image}, got {image}; use TransferLearning to change it"
                )
        counted += len(parent.training_jobs)
    if counted > MAX_TRAINING_JOBS:
        raise refuse(
            f"The parent tuning jobs' training jobs and MaxNumberOfTrainingJobs ({plan.max_jobs}) add up to "
            f"{counted}, more than the {MAX_TRAINING_JOBS} training jobs of one tuning job"
        )
    return parents


def _check_hyperparameters(
    refuse: Callable[[str], ClientError], parent_name: str, parent: TuningPlan, child: TuningPlan
) -> None:
    def names(plan: TuningPlan) -> set[str]:
        return {p.name for p in plan.space} | (set(plan.static) - {_INTERNAL})

    # "The total number of static plus tunable hyperparameters must remain the same".
    if len(names(parent)) != len(names(child)):
        raise refuse(
            f"The tuning job has {len(names(child))} static plus tunable hyperparameters, its parent "
            f"{parent_name} {len(names(parent))}: warm start keeps their number"
        )
    # "The type of each hyperparameter (continuous, integer, categorical) must not change".
    kinds = {p.name: p.kind for p in parent.space}
    changed = sorted(p.name for p in child.space if p.name in kinds and kinds[p.name] != p.kind)
    if changed:
        raise refuse(
            f"The range type of {', '.join(changed)} differs from the parent tuning job {parent_name}'s: "
            "warm start keeps each hyperparameter continuous, integer or categorical"
        )
    changes = 0
    tuned_in_parent = {p.name: p for p in parent.space}
    for name, value in child.static.items():
        if name == _INTERNAL:
            continue
        if name in tuned_in_parent:
            tuned = tuned_in_parent[name]
            # "Each value in a categorical hyperparameter counts against this limit".
            changes += len(tuned.values) if tuned.kind == "Categorical" else 1
        elif name in parent.static and parent.static[name] != value:
            # The guide's example counts a static value changed from red to blue as 2 changes.
            changes += 2
    if changes > MAX_STATIC_CHANGES:
        raise refuse(
            f"{changes} changes from the parent tuning job {parent_name} (tunable to static, or a static "
            f"value changed): at most {MAX_STATIC_CHANGES} are allowed"
        )


def overall_best(store: Store, job: TuningJob) -> tuple[TuningJob, Any] | None:
    """IdenticalDataAndAlgorithm: the best training job of this tuning job and its parents together, with the
    tuning job that ran it (DescribeHyperParameterTuningJob's OverallBestTrainingJob; the type's
    description in the guide). None for another type, or before any job has an objective."""
    config = job.request.get("WarmStartConfig") or {}
    if config.get("WarmStartType") != "IdenticalDataAndAlgorithm":
        return None
    owners = []
    for item in config["ParentHyperParameterTuningJobs"]:
        parent = store.tuning_jobs.get(item["HyperParameterTuningJobName"].lower())
        if parent is not None:
            owners.append(parent)
    owners.append(job)  # last: a tie goes to the earlier job
    candidates = [(owner, store.training_jobs[owner.best]) for owner in owners if owner.best is not None]
    candidates = [(owner, training) for owner, training in candidates if training.objective is not None]
    if not candidates:
        return None
    sign = -1.0 if job.plan.maximize else 1.0
    return min(candidates, key=lambda pair: sign * pair[1].objective)


def search_seed(seed: int | None, request: dict[str, Any]) -> int | None:
    """The sampler's seed: RandomSeed, mixed with the parents' names when warm-started. The parents were
    seeded with the same RandomSeed: unmixed, the new search would draw their first random configurations
    again (Optuna's random draws do not depend on the trials it was given). Still reproducible."""
    config = request.get("WarmStartConfig")
    if seed is None or not config:
        return seed
    names = sorted(p["HyperParameterTuningJobName"].lower() for p in config["ParentHyperParameterTuningJobs"])
    return int(hashlib.sha256(f"{seed}|{'|'.join(names)}".encode()).hexdigest()[:8], 16)


def seed_trials(store: Store, parents: list[TuningJob], plan: TuningPlan) -> list[Any]:
    """The parents' completed training jobs as finished Optuna trials of this job's search space: those
    whose every hyperparameter lies within this job's ranges (a static value of the parent counts for a
    hyperparameter the child tunes)."""
    evaluated = []
    with store.lock:
        for parent in parents:
            for name in parent.training_jobs:
                job = store.training_jobs[name]
                if job.description["TrainingJobStatus"] != "Completed" or job.objective is None:
                    continue
                evaluated.append((dict(job.description["HyperParameters"]), job.objective))
    return hpo.warm_start_trials(plan.space, evaluated)
