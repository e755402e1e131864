"""SageMaker's built-in XGBoost algorithm (the ``sagemaker-xgboost`` container), run in process.

What the container does, reproduced with open-source XGBoost on the CPU:

- hyperparameters arrive as strings and are validated as the container's algorithm toolkit does it
  (``num_round`` required, unknown names rejected, types and ranges checked), with its messages;
- CSV channels: no header, label in the first column (instance weights in the second with ``csv_weights=1``);
- ``xgb.train`` with the ``train`` and ``validation`` evaluation sets, ``EarlyStopping(save_best=True)`` on
  the tuning objective's metric when ``early_stopping_rounds`` is set, metrics emitted every round;
- the model is saved with ``Booster.save_model`` as ``xgboost-model`` (UBJSON, XGBoost's native format) in
  ``model.tar.gz``;
- inference on ``text/csv`` checks the feature count as the container does (the model's count, or one
  more: a payload with one column too few is accepted) and returns one prediction per record.

Failures carry the ``FailureReason`` SageMaker shows: ``ClientError: ...`` for the user's mistakes,
``AlgorithmError: ...`` for errors XGBoost raises.
"""

from __future__ import annotations

import io
import logging
import math
import tarfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xgboost as xgb

logger = logging.getLogger(__name__)

MODEL_FILE = "xgboost-model"
# One OpenMP thread per training job: parallel jobs run side by side, one per core, as SageMaker runs them on
# separate instances. Measured on a 2-core machine with another process busy: one job with nthread=2 spent
# 19 ms a boosting round (OpenMP threads wait for each other at every barrier), nthread=1 spent 5 ms.
DEFAULT_NTHREAD = 1
CHANNEL_DIR = "/opt/ml/input/data"


class AlgorithmFailure(Exception):
    """A training job or inference request the container would fail; ``reason`` is SageMaker's text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def client_error(message: str) -> AlgorithmFailure:
    return AlgorithmFailure(f"ClientError: {message}")


# --- hyperparameters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Interval:
    low: float | None = None
    low_open: bool = False
    high: float | None = None
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def __str__(self) -> str:
        low = "(-inf" if self.low is None else f"{'(' if self.low_open else '['}{_fmt_bound(self.low)}"
        high = "+inf)" if self.high is None else f"{_fmt_bound(self.high)}{')' if self.high_open else ']'}"
        return f"{low}, {high}"


def _fmt_bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class _Spec:
    kind: str  # int | float | choice | list | text
    interval: _Interval | None = None
    choices: tuple[str, ...] = ()


def _i(
    low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False
):
    return _Interval(low, low_open, high, high_open)


_OBJECTIVES = (
    "aft_loss_distribution",
    "binary:logistic",
    "binary:logitraw",
    "binary:hinge",
    "count:poisson",
    "multi:softmax",
    "multi:softprob",
    "rank:pairwise",
    "rank:ndcg",
    "rank:map",
    "reg:linear",
    "reg:squarederror",
    "reg:logistic",
    "reg:gamma",
    "reg:pseudohubererror",
    "reg:squaredlogerror",
    "reg:absoluteerror",
    "reg:quantileerror",
    "reg:tweedie",
    "survival:aft",
    "survival:cox",
)

# Metrics XGBoost computes itself; the container's custom ones (accuracy, f1, mse, r2...) are not emulated.
NATIVE_METRICS = (
    "rmse",
    "rmsle",
    "mae",
    "mape",
    "mphe",
    "logloss",
    "error",
    "merror",
    "mlogloss",
    "auc",
    "aucpr",
    "ndcg",
    "map",
    "pre",
    "poisson-nloglik",
    "gamma-nloglik",
    "cox-nloglik",
    "gamma-deviance",
    "tweedie-nloglik",
    "aft-nloglik",
    "interval-regression-accuracy",
)
MAXIMIZE_METRICS = ("auc", "aucpr", "map", "ndcg", "pre", "interval-regression-accuracy")
OBJECTIVE_METRICS = tuple(f"{data}:{metric}" for data in ("train", "validation") for metric in NATIVE_METRICS)

# The container's hyperparameter table (its algorithm_mode/hyperparameter_validation.py).
_SPECS: dict[str, _Spec] = {
    "num_round": _Spec("int", _i(1)),
    "csv_weights": _Spec("int", _i(0, 1)),
    "early_stopping_rounds": _Spec("int", _i(1)),
    "booster": _Spec("choice", choices=("gbtree", "gblinear", "dart")),
    "verbosity": _Spec("int", _i(0, 3)),
    "nthread": _Spec("int", _i(1)),
    "eta": _Spec("float", _i(0, 1)),
    "gamma": _Spec("float", _i(0)),
    "max_depth": _Spec("int", _i(0)),
    "min_child_weight": _Spec("float", _i(0)),
    "max_delta_step": _Spec("float", _i(0)),
    "subsample": _Spec("float", _i(0, 1, low_open=True)),
    "colsample_bytree": _Spec("float", _i(0, 1, low_open=True)),
    "colsample_bylevel": _Spec("float", _i(0, 1, low_open=True)),
    "colsample_bynode": _Spec("float", _i(0, 1, low_open=True)),
    "lambda": _Spec("float", _i(0)),
    "alpha": _Spec("float", _i(0)),
    "tree_method": _Spec("choice", choices=("auto", "exact", "approx", "hist", "gpu_hist")),
    "sketch_eps": _Spec("float", _i(0, 1, low_open=True, high_open=True)),
    "scale_pos_weight": _Spec("float", _i(0, low_open=True)),
    "updater": _Spec("list"),
    "dsplit": _Spec("choice", choices=("row", "col")),
    "refresh_leaf": _Spec("int", _i(0, 1)),
    "process_type": _Spec("choice", choices=("default", "update")),
    "grow_policy": _Spec("choice", choices=("depthwise", "lossguide")),
    "max_leaves": _Spec("int", _i(0)),
    "max_bin": _Spec("int", _i(0)),
    "predictor": _Spec("choice", choices=("auto", "cpu_predictor", "gpu_predictor")),
    "monotone_constraints": _Spec("text"),
    "interaction_constraints": _Spec("text"),
    "sample_type": _Spec("choice", choices=("uniform", "weighted")),
    "normalize_type": _Spec("choice", choices=("tree", "forest")),
    "rate_drop": _Spec("float", _i(0, 1)),
    "one_drop": _Spec("int", _i(0, 1)),
    "skip_drop": _Spec("float", _i(0, 1)),
    "lambda_bias": _Spec("float", _i(0, 1)),
    "tweedie_variance_power": _Spec("float", _i(1, 2, low_open=True, high_open=True)),
    "objective": _Spec("choice", choices=_OBJECTIVES),
    "num_class": _Spec("int", _i(2)),
    "base_score": _Spec("float", _i(0)),
    "_kfold": _Spec("int", _i(2)),
    "_num_cv_round": _Spec("int", _i(1)),
    "_tuning_objective_metric": _Spec("choice", choices=OBJECTIVE_METRICS),
    "eval_metric": _Spec("list"),
    "seed": _Spec("int", _i(-(2**31), 2**31 - 1, low_open=True, high_open=True)),
    "num_parallel_tree": _Spec("int", _i(1)),
    "save_model_on_termination": _Spec("choice", choices=("true", "false")),
    "aft_loss_distribution": _Spec("choice", choices=("normal", "logistic", "extreme")),
    "aft_loss_distribution_scale": _Spec("float", _i(0, low_open=True)),
    "huber_slope": _Spec("float", _i(0, low_open=True)),
    "quantile_alpha": _Spec("text"),
    "deterministic_histogram": _Spec("choice", choices=("true", "false")),
    "single_precision_histogram": _Spec("choice", choices=("true", "false")),
    "max_cat_to_onehot": _Spec("int", _i(1)),
}
HYPERPARAMETER_NAMES = frozenset(_SPECS)
# Read by the container, never passed to xgb.train.
_CONTAINER_ONLY = frozenset(
    {
        "num_round",
        "csv_weights",
        "early_stopping_rounds",
        "_tuning_objective_metric",
        "save_model_on_termination",
    }
)


@dataclass(frozen=True)
class TrainingConfig:
    params: dict[str, Any]
    num_round: int
    early_stopping_rounds: int | None
    csv_weights: int
    objective_metric: str | None  # e.g. "validation:rmse"
    early_stopping_metric: str | None


def parse_hyperparameters(
    hyperparameters: Mapping[str, str], nthread: int = DEFAULT_NTHREAD
) -> TrainingConfig:
    """The container's validation, then the arguments of ``xgb.train``."""
    if "num_round" not in hyperparameters:
        raise client_error("Missing required hyperparameter: num_round")
    values: dict[str, Any] = {}
    for name, raw in hyperparameters.items():
        spec = _SPECS.get(name)
        if spec is None:
            raise client_error(f"Extraneous hyperparameter found: {name}")
        values[name] = _parse_value(name, str(raw), spec)
    if "_kfold" in values or "_num_cv_round" in values:
        raise client_error("cross-validation (_kfold) is not supported by the offline emulator")
    objective = values.get("objective")
    if objective in ("multi:softmax", "multi:softprob") and "num_class" not in values:
        raise client_error("Require input for parameter 'num_class' for multi-classification")

    tuning_metric = values.get("_tuning_objective_metric")
    eval_metric: list[str] = list(values.get("eval_metric") or [])
    for metric in eval_metric:
        if metric.split("@")[0] not in NATIVE_METRICS:
            raise client_error(
                f"Hyperparameter eval_metric: value {eval_metric} not in range {NATIVE_METRICS}"
            )
    # As the container does: the tuning objective's metric joins eval_metric and, being last, drives early
    # stopping.
    if tuning_metric:
        metric = tuning_metric.split(":", 1)[1]
        if metric not in eval_metric:
            eval_metric.append(metric)
        stopping_metric: str | None = metric
    else:
        stopping_metric = eval_metric[-1] if eval_metric else None

    params = {k: v for k, v in values.items() if k not in _CONTAINER_ONLY}
    if eval_metric:
        params["eval_metric"] = eval_metric
    params.setdefault("nthread", nthread)
    params.setdefault("verbosity", 0)
    return TrainingConfig(
        params=params,
        num_round=values["num_round"],
        early_stopping_rounds=values.get("early_stopping_rounds"),
        csv_weights=values.get("csv_weights", 0),
        objective_metric=tuning_metric,
        early_stopping_metric=stopping_metric,
    )


def _parse_value(name: str, raw: str, spec: _Spec) -> Any:
    try:
        if spec.kind == "int":
            value: Any = int(raw)
        elif spec.kind == "float":
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError(raw)
        elif spec.kind == "list":
            return raw.split(",")
        else:
            value = raw
    except ValueError:
        raise client_error(f"Hyperparameter {name}: could not parse value (caused by ValueError)") from None
    if spec.interval is not None and value not in spec.interval:
        raise client_error(f"Hyperparameter {name}: {value} is not in {spec.interval}")
    if spec.choices and value not in spec.choices:
        raise client_error(f"Hyperparameter {name}: {value} is not in {list(spec.choices)}")
    return value


# --- data ----------------------------------------------------------------------------------------------


@dataclass
class ChannelData:
    """A channel's records: features, labels and (with csv_weights=1) instance weights."""

    features: np.ndarray
    labels: np.ndarray
    weights: np.ndarray | None = None
    _dmatrix: dict[tuple[int, int], xgb.DMatrix] = field(default_factory=dict, repr=False)

    @property
    def rows(self) -> int:
        return int(self.features.shape[0])

    def dmatrix(self, nthread: int) -> xgb.DMatrix:
        # Built once per channel and thread, and reused by every trial that thread runs: XGBoost keeps its
        # histogram index with the DMatrix, and builds it lazily (so threads do not share one).
        key = (nthread, threading.get_ident())
        if key not in self._dmatrix:
            self._dmatrix[key] = xgb.DMatrix(
                self.features, label=self.labels, weight=self.weights, nthread=nthread
            )
        return self._dmatrix[key]


def parse_csv(body: bytes, where: str) -> np.ndarray:
    """A CSV file without header as a 2-D float32 array (no rows: shape (0, 0))."""
    if not body.strip():
        return np.zeros((0, 0), dtype=np.float32)
    try:
        array = np.loadtxt(io.BytesIO(body), delimiter=",", dtype=np.float32, ndmin=2)
    except ValueError as e:
        raise client_error(
            f"Loading csv data failed with Exception, please ensure data is in csv format: {where}: "
            f"{str(e).splitlines()[0]}"
        ) from None
    return array


def channel_data(
    files: list[tuple[str, bytes]], channel: str, content_type: str | None, csv_weights: int
) -> ChannelData | None:
    """The records of a channel's files (label first); None if the files hold no data."""
    media = (content_type or "text/csv").split(";")[0].strip().lower()
    if media not in ("text/csv", "csv"):
        raise client_error(
            f"Content type {content_type} of channel {channel} is not supported by the offline emulator "
            "(it reads text/csv only)"
        )
    arrays = [array for name, body in files if (array := parse_csv(body, name)).size]
    if not arrays:
        return None
    widths = {array.shape[1] for array in arrays}
    if len(widths) > 1:
        raise client_error(
            f"Files in channel {channel} have different numbers of columns: {sorted(widths)}; "
            "every record needs the label first and the same features"
        )
    data = np.vstack(arrays)
    first_feature = 2 if csv_weights else 1
    if data.shape[1] <= first_feature:
        raise client_error(
            f"Channel {channel} has {data.shape[1]} column(s): expected the label "
            f"{'and the weight ' if csv_weights else ''}followed by at least one feature"
        )
    return ChannelData(
        features=np.ascontiguousarray(data[:, first_feature:]),
        labels=np.ascontiguousarray(data[:, 0]),
        weights=np.ascontiguousarray(data[:, 1]) if csv_weights else None,
    )


# --- training ------------------------------------------------------------------------------------------

# after_round(epoch, objective value or None) -> a reason to stop now (e.g. "pruned") or None.
RoundHook = Callable[[int, float | None], str | None]


@dataclass
class TrainingOutcome:
    model: bytes
    history: dict[str, dict[str, list[float]]]
    rounds: int
    stop_reason: str | None
    objective: float | None  # the objective metric's latest emitted value

    def final_metrics(self) -> dict[str, float]:
        """The latest value of every metric, named as SageMaker names them (``validation:rmse``)."""
        return {
            f"{data}:{metric}": float(values[-1])
            for data, metrics in self.history.items()
            for metric, values in metrics.items()
            if values
        }


class _RoundCallback(xgb.callback.TrainingCallback):
    def __init__(self, objective: tuple[str, str] | None, hook: RoundHook | None) -> None:
        super().__init__()
        self.objective, self.hook = objective, hook
        self.stop_reason: str | None = None

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if self.hook is None:
            return False
        value = None
        if self.objective is not None:
            data, metric = self.objective
            values = evals_log.get(data, {}).get(metric)
            value = float(values[-1]) if values else None
        self.stop_reason = self.hook(epoch, value)
        return self.stop_reason is not None


def train(
    config: TrainingConfig,
    train_data: ChannelData,
    validation_data: ChannelData | None,
    after_round: RoundHook | None = None,
) -> TrainingOutcome:
    nthread = int(config.params.get("nthread", DEFAULT_NTHREAD))
    dtrain = train_data.dmatrix(nthread)
    evals = [(dtrain, "train")]
    if validation_data is not None:
        evals.append((validation_data.dmatrix(nthread), "validation"))
    callbacks: list[xgb.callback.TrainingCallback] = []
    # The container stops early on the validation set only, and keeps the best iteration's trees.
    if config.early_stopping_rounds and validation_data is not None and config.early_stopping_metric:
        callbacks.append(
            xgb.callback.EarlyStopping(
                rounds=config.early_stopping_rounds,
                data_name="validation",
                metric_name=config.early_stopping_metric,
                maximize=config.early_stopping_metric in MAXIMIZE_METRICS,
                save_best=True,
            )
        )
    objective = tuple(config.objective_metric.split(":", 1)) if config.objective_metric else None
    hook = _RoundCallback(objective, after_round)  # type: ignore[arg-type]
    callbacks.append(hook)
    history: dict[str, dict[str, list[float]]] = {}
    try:
        # verbosity 0 (the default here) keeps XGBoost's warnings about unused parameters quiet; they are
        # not silenced with warnings.catch_warnings, which is not thread-safe and jobs run in threads.
        booster = xgb.train(
            dict(config.params),
            dtrain,
            num_boost_round=config.num_round,
            evals=evals,
            evals_result=history,
            callbacks=callbacks,
            verbose_eval=False,
        )
    except xgb.core.XGBoostError as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AlgorithmFailure(
            f"AlgorithmError: XGB train call failed with exception:\n {first_line}"
        ) from None
    value = None
    if objective is not None:
        values = history.get(objective[0], {}).get(objective[1])
        value = float(values[-1]) if values else None
    rounds = max((len(v) for m in history.values() for v in m.values()), default=config.num_round)
    return TrainingOutcome(
        model=bytes(booster.save_raw("ubj")),
        history=history,
        rounds=rounds,
        stop_reason=hook.stop_reason,
        objective=value,
    )


def model_tarball(model: bytes) -> bytes:
    """``model.tar.gz`` as the container's output: one file, ``xgboost-model``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        info = tarfile.TarInfo(MODEL_FILE)
        info.size, info.mtime, info.mode = len(model), int(time.time()), 0o644
        tar.addfile(info, io.BytesIO(model))
    return buffer.getvalue()


def load_model(tarball: bytes) -> xgb.Booster:
    """The booster in ``model.tar.gz`` (the container loads the first file of the model directory)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:*") as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            member = next((m for m in members if m.name.lstrip("./") == MODEL_FILE), None) or (
                members[0] if members else None
            )
            if member is None:
                raise client_error("model.tar.gz holds no model file")
            extracted = tar.extractfile(member)
            raw = extracted.read() if extracted is not None else b""
    except tarfile.TarError as e:
        raise client_error(f"model.tar.gz could not be read: {e}") from None
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError as e:
        raise client_error(f"Unable to load model: {str(e).strip().splitlines()[0]}") from None
    return booster


# --- inference -----------------------------------------------------------------------------------------


def predict_csv(booster: xgb.Booster, records: list[list[str]]) -> np.ndarray:
    """Predictions for CSV records (lists of fields), as the container's ``text/csv`` handler makes them."""
    if not records:
        return np.zeros(0, dtype=np.float32)
    widths = {len(r) for r in records}
    if len(widths) > 1:
        raise client_error(
            "Unable to evaluate payload provided: Loading csv data failed with Exception, please ensure "
            f"data is in csv format: records have different numbers of columns {sorted(widths)}"
        )
    try:
        features = np.array(
            [[float(v) if v.strip() else np.nan for v in r] for r in records], dtype=np.float32
        )
    except ValueError as e:
        raise client_error(
            "Unable to evaluate payload provided: Loading csv data failed with Exception, please ensure "
            f"data is in csv format: {e}"
        ) from None
    model_features, data_features = booster.num_features(), features.shape[1]
    if not (model_features == data_features or model_features == data_features + 1):
        raise client_error(
            f"Unable to evaluate payload provided: Feature size of csv inference data {data_features} is "
            f"not consistent with feature size of trained model {model_features}"
        )
    return booster.predict(xgb.DMatrix(features, nthread=DEFAULT_NTHREAD), validate_features=False)


def format_prediction(value: float) -> str:
    return str(np.float32(value))
