"""A tuning job's search, with Optuna: parameter ranges, strategies, SageMaker's early stopping.

- ``ParameterRanges`` become Optuna distributions. ``Logarithmic`` is Optuna's log scale;
  ``ReverseLogarithmic`` (continuous ranges within [0, 1)) samples ``1 - x`` on a log scale, so values
  crowd towards the top of the range; ``Auto`` is taken as ``Linear``.
- ``Strategy``: Bayesian -> ``TPESampler``, Random -> ``RandomSampler``, Grid -> ``GridSampler`` over the
  categorical values, Hyperband -> ``HyperbandPruner`` (with random sampling, as in Hyperband itself) over
  boosting rounds between ``MinResource`` and ``MaxResource``.
- ``TrainingJobEarlyStoppingType: Auto`` -> ``RunningAverageMedianPruner``, SageMaker's documented rule.

SageMaker's rules for these fields (what is accepted together) are checked here and raised as
``RangeError``, which the emulator turns into a ``ValidationException``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial

# SageMaker searches at most 30 hyperparameters in one tuning job (all range kinds together).
MAX_TUNED_HYPERPARAMETERS = 30
# SageMaker documents the rule of its early stopping, not when the rule starts to apply. Two guards:
# - three previous jobs at least, so one odd job cannot set the median alone;
# - ten epochs at least: the running average of the first epoch is that epoch's value, so without a
#   warm-up every job whose first boosting round is worse than the median (half the jobs with a smaller
#   eta) would be stopped after one round, and the search would learn only "large eta".
EARLY_STOPPING_MIN_PREVIOUS_JOBS = 3
EARLY_STOPPING_MIN_EPOCHS = 10
# Hyperband infers MaxResource from these static hyperparameters (HyperbandStrategyConfig's documentation).
HYPERBAND_EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")
HYPERBAND_MAX_RESOURCE = 20000


class RangeError(ValueError):
    """A tuning configuration SageMaker rejects; the message says why."""


@dataclass(frozen=True)
class TunedParameter:
    name: str
    kind: str  # Continuous | Integer | Categorical
    scaling: str = "Linear"
    low: float = 0.0
    high: float = 0.0
    values: tuple[str, ...] = ()

    def distribution(self) -> BaseDistribution:
        if self.kind == "Categorical":
            return CategoricalDistribution(self.values)
        if self.kind == "Integer":
            return IntDistribution(int(self.low), int(self.high), log=self.scaling == "Logarithmic")
        if self.scaling == "ReverseLogarithmic":
            return FloatDistribution(1.0 - self.high, 1.0 - self.low, log=True)
        return FloatDistribution(self.low, self.high, log=self.scaling == "Logarithmic")

    def value(self, sampled: Any) -> str:
        """The sampled value as the training job gets it: a string, like every SageMaker hyperparameter."""
        if self.kind == "Categorical":
            return str(sampled)
        if self.kind == "Integer":
            return str(int(sampled))
        number = 1.0 - float(sampled) if self.scaling == "ReverseLogarithmic" else float(sampled)
        return repr(min(max(number, self.low), self.high))

    def trial_param(self, text: str | None) -> Any:
        """The inverse of ``value``: a training job's hyperparameter as a trial of this range holds it,
        or None when it lies outside the range (or is not of its kind)."""
        if text is None:
            return None
        if self.kind == "Categorical":
            return text if text in self.values else None
        try:
            number = float(text)
        except ValueError:
            return None
        if not self.low <= number <= self.high:
            return None
        if self.kind == "Integer":
            return int(number) if number.is_integer() else None
        return 1.0 - number if self.scaling == "ReverseLogarithmic" else number


def search_space(parameter_ranges: Mapping[str, Any] | None, strategy: str) -> list[TunedParameter]:
    """The tuned hyperparameters of ``ParameterRanges``, checked as SageMaker checks them."""
    ranges = parameter_ranges or {}
    if ranges.get("AutoParameters"):
        raise RangeError("AutoParameters (Autotune) are not supported by the offline emulator")
    space: list[TunedParameter] = []
    for item in ranges.get("ContinuousParameterRanges") or []:
        space.append(_numeric(item, "Continuous"))
    for item in ranges.get("IntegerParameterRanges") or []:
        space.append(_numeric(item, "Integer"))
    for item in ranges.get("CategoricalParameterRanges") or []:
        values = tuple(item["Values"])
        if len(set(values)) != len(values):
            raise RangeError(f"The values of the categorical hyperparameter {item['Name']} must be unique")
        space.append(TunedParameter(name=item["Name"], kind="Categorical", values=values))
    names = [p.name for p in space]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RangeError(
            f"Hyperparameter names in ParameterRanges must be unique; repeated: {', '.join(duplicates)}"
        )
    if len(space) > MAX_TUNED_HYPERPARAMETERS:
        raise RangeError(
            f"A tuning job can search at most {MAX_TUNED_HYPERPARAMETERS} hyperparameters; "
            f"ParameterRanges has {len(space)}"
        )
    if strategy == "Grid":
        numeric = [p.name for p in space if p.kind != "Categorical"]
        if numeric:
            raise RangeError(
                "The Grid strategy searches categorical parameters only; "
                f"these ranges are not categorical: {', '.join(numeric)}"
            )
        if not space:
            raise RangeError("The Grid strategy needs at least one CategoricalParameterRange")
    return space


def _numeric(item: Mapping[str, Any], kind: str) -> TunedParameter:
    name = item["Name"]
    scaling = item.get("ScalingType") or "Auto"
    parse = int if kind == "Integer" else float
    try:
        low, high = parse(item["MinValue"]), parse(item["MaxValue"])
    except ValueError:
        raise RangeError(
            f"The {kind.lower()} range of {name} needs {kind.lower()} MinValue and MaxValue, "
            f"got {item['MinValue']!r} and {item['MaxValue']!r}"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise RangeError(f"The range of {name} must be finite")
    if low > high:
        raise RangeError(
            f"MinValue {item['MinValue']} of {name} is greater than its MaxValue {item['MaxValue']}"
        )
    if scaling == "Logarithmic" and low <= 0:
        raise RangeError(
            f"Logarithmic scaling works only for ranges that have only values greater than 0 ({name})"
        )
    if scaling == "ReverseLogarithmic":
        if kind == "Integer":
            raise RangeError(f"ReverseLogarithmic scaling is not supported for the integer range of {name}")
        if low < 0 or high >= 1:
            raise RangeError(
                f"ReverseLogarithmic scaling works only for ranges entirely within 0 <= x < 1.0 ({name})"
            )
    # Auto: SageMaker picks a scale; linear is always a valid one.
    return TunedParameter(
        name=name, kind=kind, scaling="Linear" if scaling == "Auto" else scaling, low=low, high=high
    )


def warm_start_trials(
    space: Sequence[TunedParameter], evaluated: Sequence[tuple[Mapping[str, str], float]]
) -> list[FrozenTrial]:
    """Finished trials of ``space`` from earlier training jobs' (hyperparameters, final objective): what a
    warm-started search starts from. A job with a hyperparameter outside this space's range (or without it)
    is left out: its objective says nothing about a point the search may choose."""
    distributions = {p.name: p.distribution() for p in space}
    trials = []
    for hyperparameters, objective in evaluated:
        params = {p.name: p.trial_param(hyperparameters.get(p.name)) for p in space}
        if any(value is None for value in params.values()):
            continue
        trials.append(optuna.trial.create_trial(params=params, distributions=distributions, value=objective))
    return trials


def grid_size(space: Sequence[TunedParameter]) -> int:
    return math.prod(len(p.values) for p in space)


def make_sampler(
    strategy: str, seed: int | None, space: Sequence[TunedParameter]
) -> optuna.samplers.BaseSampler:
    if strategy == "Bayesian":
        return optuna.samplers.TPESampler(seed=seed)
    if strategy == "Grid":
        return _AskTellGridSampler({p.name: list(p.values) for p in space}, seed=seed)
    # Random, and Hyperband: it samples configurations at random and spends its budget on the good ones.
    return optuna.samplers.RandomSampler(seed=seed)


class _AskTellGridSampler(optuna.samplers.GridSampler):
    """GridSampler driven by ask and tell: one trial per grid point, no optimisation loop.

    ``GridSampler.after_trial`` calls ``Study.stop`` once the grid is covered, which Optuna allows only inside
    ``Study.optimize``; the tuning job launches exactly as many trials as there are grid points instead.
    """

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: optuna.trial.TrialState,
        values: Sequence[float] | None,
    ) -> None:
        return None


def hyperband_resources(config: Mapping[str, Any], static: Mapping[str, str]) -> tuple[int, int]:
    """(MinResource, MaxResource) of a Hyperband tuning job, as HyperbandStrategyConfig documents them."""
    hyperband = (config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}
    min_resource = int(hyperband.get("MinResource") or 1)
    max_resource = hyperband.get("MaxResource")
    if max_resource is None:
        for key in HYPERBAND_EPOCH_KEYS:
            if key in static:
                try:
                    max_resource = int(static[key])
                except ValueError:
                    raise RangeError(
                        f"Static hyperparameter {key} must be an integer to infer MaxResource"
                    ) from None
                break
    if max_resource is None:
        raise RangeError(
            "The Hyperband strategy needs HyperbandStrategyConfig.MaxResource: it cannot be inferred from "
            f"the static hyperparameters (none of {', '.join(HYPERBAND_EPOCH_KEYS)} is set)"
        )
    if max_resource > HYPERBAND_MAX_RESOURCE:
        raise RangeError(f"MaxResource must be at most {HYPERBAND_MAX_RESOURCE}, got {max_resource}")
    if min_resource > max_resource:
        raise RangeError(f"MinResource {min_resource} is greater than MaxResource {max_resource}")
    return min_resource, int(max_resource)


class RunningAverageMedianPruner(optuna.pruners.BasePruner):
    """SageMaker's early stopping (``TrainingJobEarlyStoppingType: Auto``), as its documentation states it.

    After each epoch (a boosting round), the job's objective metric is compared with the median, over all
    previous training jobs, of their running average of the objective up to the same epoch; a job worse than
    that median is stopped. "Previous" jobs are those that finished before this job's batch started (jobs of
    one batch run side by side on SageMaker). See EARLY_STOPPING_MIN_EPOCHS for when the rule starts.
    """

    def __init__(
        self,
        maximize: bool,
        min_previous_jobs: int = EARLY_STOPPING_MIN_PREVIOUS_JOBS,
        min_epochs: int = EARLY_STOPPING_MIN_EPOCHS,
    ) -> None:
        self.maximize = maximize
        self.min_previous_jobs = min_previous_jobs
        self.min_epochs = min_epochs
        self._running_averages: list[list[float]] = []
        self._visible = 0

    def record_finished(self, values_by_epoch: Sequence[float]) -> None:
        """A finished job's per-epoch objective values (its history, also for stopped jobs)."""
        averages: list[float] = []
        total = 0.0
        for epoch, value in enumerate(values_by_epoch, start=1):
            total += value
            averages.append(total / epoch)
        self._running_averages.append(averages)

    def start_batch(self) -> None:
        """The jobs recorded so far become the "previous" jobs of the batch about to run."""
        self._visible = len(self._running_averages)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step + 1 < self.min_epochs:
            return False
        value = trial.intermediate_values[step]
        averages = [a[step] for a in self._running_averages[: self._visible] if len(a) > step]
        if len(averages) < self.min_previous_jobs:
            return False
        median = statistics.median(averages)
        return value < median if self.maximize else value > median
