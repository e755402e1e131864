"""Warm start: how many training jobs a run needs to come within 2% of a cold run's best, cold and warm.

Every run is a whole execution of the offline engine (the real definition, the default template parameters:
20 training jobs, 4 at a time, early stopping and BestObjectiveNotImproving as deployed), on the default
data (Friedman #1, the execution input's default sizes and noise). The data seed makes one repetition:

- the cold run: ``{"seed": s}``;
- the earlier run: the cold run of the previous seed (the same distribution, another draw: what a second
  run of the stack finds, with its own data set, in ``warmStart: previous``);
- the warm run: ``{"seed": s, "warmStart": {"parents": [<the earlier run's tuning job>]}}``
  (TransferLearning, the default: the data differs).

The target of a repetition is the cold run's best objective (validation:rmse, the tuning job's own figure)
plus 2%. For each run the figure is the number of training jobs launched until the best so far is at or
below the target (a run that never gets there counts its jobs plus one, and is flagged). The definition's
RandomSeed is fixed, so the cold and the warm run of one seed differ only by the warm start.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bench.common import load_average, machine, summary

DEFAULT_SEEDS = (42, 1, 2, 3, 4, 5)
QUICK_SEEDS = (42, 1, 2)
# Quick mode: a fifth of the default data, for a look.
QUICK_DATA = {"trainRows": 2_000, "validationRows": 400, "testRows": 400}
TOLERANCE = 0.02
_INDEX = re.compile(r"-(\d{3})-[0-9a-f]{8}$")


def _objectives(engine: Any, tuning_job: str) -> list[float | None]:
    """Each training job's final objective, in launch order (None: the job emitted none)."""
    summaries: list[dict[str, Any]] = []
    token = None
    while True:
        page = engine.sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=tuning_job, MaxResults=100, **({"NextToken": token} if token else {})
        )
        summaries += page["TrainingJobSummaries"]
        token = page.get("NextToken")
        if not token:
            break
    ordered = sorted(summaries, key=lambda s: int(_INDEX.search(s["TrainingJobName"])[1]))  # type: ignore[index]
    return [(s.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("Value") for s in ordered]


def jobs_to_reach(objectives: Sequence[float | None], target: float) -> int | None:
    """Training jobs launched until the best objective so far is at or below ``target`` (None: never)."""
    best = float("inf")
    for launched, value in enumerate(objectives, start=1):
        if value is not None:
            best = min(best, value)
        if best <= target:
            return launched
    return None


def _run(engine: Any, execution_input: Mapping[str, Any], label: str, log: Callable[[str], None]) -> dict:
    result = engine.run(dict(execution_input))
    if result.status != "SUCCEEDED":
        raise RuntimeError(f"warm start bench, {label}: {result.status}: {result.error}: {result.cause}")
    tuning_job = result.output["tuning"]["tuningJobName"]
    objectives = _objectives(engine, tuning_job)
    log(f"warm start {label}: {len(objectives)} jobs, best {min(v for v in objectives if v is not None):.4f}")
    return {
        "tuning_job": tuning_job,
        "objectives": [None if v is None else round(v, 5) for v in objectives],
        "test_rmse": round(result.output["evaluation"]["rmse"], 5),
        "wall_seconds": round(result.wall_seconds, 2),
    }


def measure(
    seeds: Sequence[int] = DEFAULT_SEEDS,
    *,
    data: Mapping[str, Any] | None = None,
    parameters: Mapping[str, str] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Cold runs on every seed, a warm run on every seed but the first (from the previous seed's cold run).

    ``data`` (the execution input's data keys; default: the input's defaults) and ``parameters`` (template
    parameters) are for the quick mode and tests.
    """
    from offline.engine import Engine

    if len(seeds) < 2:
        raise ValueError("the warm start bench needs two seeds at least: the first only makes a parent")
    started_load = load_average()
    started = time.monotonic()
    data = dict(data or {})
    # The gate is not what is measured: a failed gate would end a small-data run before its summary.
    parameters = {"QualityGate": "Disabled", **(parameters or {})}
    repetitions = []
    with Engine(parameters=parameters) as engine:
        earlier = _run(engine, {**data, "seed": seeds[0]}, f"cold seed {seeds[0]}", log)
        for seed in seeds[1:]:
            cold = _run(engine, {**data, "seed": seed}, f"cold seed {seed}", log)
            warm_input = {**data, "seed": seed, "warmStart": {"parents": [earlier["tuning_job"]]}}
            warm = _run(engine, warm_input, f"warm seed {seed} from seed {seeds[seeds.index(seed) - 1]}", log)
            target = min(v for v in cold["objectives"] if v is not None) * (1 + TOLERANCE)
            counts = {}
            for name, run in (("cold", cold), ("warm", warm)):
                reached = jobs_to_reach(run["objectives"], target)
                run["jobs_to_target"] = reached if reached is not None else len(run["objectives"]) + 1
                run["reached_target"] = reached is not None
                counts[name] = run["jobs_to_target"]
            repetitions.append({"seed": seed, "target": round(target, 5), "cold": cold, "warm": warm})
            log(f"warm start seed {seed}: jobs to within 2%: cold {counts['cold']}, warm {counts['warm']}")
            earlier = cold
    return {
        "description": "training jobs launched until the best validation:rmse so far is within 2% of the "
        "cold run's best, cold against warm-started (TransferLearning) from the previous seed's cold run; "
        "whole offline executions with the template's default parameters; one data seed per repetition",
        "seeds": list(seeds),
        "repetitions": len(repetitions),
        "data": data or "the execution input's defaults",
        "parameters": parameters,
        "runs": repetitions,
        **summarize(repetitions),
        "seconds": round(time.monotonic() - started, 1),
        "machine": machine(started_load),
    }


def summarize(repetitions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The medians of the repetitions: jobs to the target, jobs run, best objective and test RMSE."""
    figures: dict[str, Any] = {}
    for kind in ("cold", "warm"):
        runs = [r[kind] for r in repetitions]
        figures[f"{kind}_jobs_to_target"] = summary([r["jobs_to_target"] for r in runs], digits=1)
        figures[f"{kind}_total_jobs"] = summary([len(r["objectives"]) for r in runs], digits=1)
        figures[f"{kind}_best_objective"] = summary(
            [min(v for v in r["objectives"] if v is not None) for r in runs], digits=5
        )
        figures[f"{kind}_test_rmse"] = summary([r["test_rmse"] for r in runs], digits=5)
    figures["warm_reached_target"] = sum(r["warm"]["reached_target"] for r in repetitions)
    return figures
