"""SageMaker's built-in XGBoost algorithm (the ``sagemaker-xgboost`` container), run in process.

What the container does, reproduced with open-source XGBoost on the CPU:

- hyperparameters arrive as strings and are validated by the container's rules for the image's version
  (``offline.container_rules``), with its messages;
- channels are read as the container reads them (``offline.channels``);
- ``xgb.train`` with the ``train`` and ``validation`` evaluation sets, the metrics the container computes
  itself as a custom metric (``offline.container_metrics``), ``EarlyStopping(save_best=True)`` on the
  container's early-stopping metric when ``early_stopping_rounds`` is set; ``_kfold`` cross-validation;
- the model is saved with ``Booster.save_model`` as ``xgboost-model`` (UBJSON, XGBoost's native format) in
  ``model.tar.gz`` (k-fold: ``xgboost-model-0``...);
- inference on ``text/csv`` as the container's serve_utils: an empty field is NaN, XGBoost checks the
  feature count (fewer columns than the model's pass), several models (k-fold) predict as an ensemble.

Failures carry the ``FailureReason`` SageMaker shows: ``ClientError: ...`` for the user's mistakes,
``AlgorithmError: ...`` for errors XGBoost raises.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb
from scipy import stats as scipy_stats
from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

from offline import channels, container_metrics, container_rules
from offline.algorithm_errors import AlgorithmFailure, client_error
from offline.channels import CHANNEL_DIR, ChannelData

__all__ = ["CHANNEL_DIR", "AlgorithmFailure", "ChannelData", "client_error"]

logger = logging.getLogger(__name__)

MODEL_FILE = "xgboost-model"
# One OpenMP thread per training job: parallel jobs run side by side, one per core, as SageMaker runs them on
# separate instances. Measured on a 2-core machine with another process busy: one job with nthread=2 spent
# 19 ms a boosting round (OpenMP threads wait for each other at every barrier), nthread=1 spent 5 ms.
DEFAULT_NTHREAD = 1
# The template's default XGBoostVersion.
DEFAULT_VERSION = "3.0-5"


# --- hyperparameters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingConfig:
    params: dict[str, Any]
    num_round: int
    early_stopping_rounds: int | None
    csv_weights: int
    objective_metric: str | None  # e.g. "validation:rmse"
    early_stopping_metric: str | None
    custom_metrics: tuple[str, ...] = ()
    early_stopping_maximize: bool = False
    kfold: int | None = None
    num_cv_round: int = 1
    # Only with "true" does the container save a model when the job is stopped (SIGTERM) before its end.
    save_model_on_termination: bool = False
    version: str = DEFAULT_VERSION


def parse_hyperparameters(
    hyperparameters: Mapping[str, str], nthread: int = DEFAULT_NTHREAD, version: str = DEFAULT_VERSION
) -> TrainingConfig:
    """The container's validation for ``version`` (``offline.container_rules``), then ``xgb.train``'s
    arguments as the container's train_job makes them."""
    container = container_rules.rules(version)
    try:
        values = container.validate(hyperparameters)
    except container_rules.RuleViolation as violation:
        prefix = "ClientError" if violation.kind == "UserError" else "AlgorithmError"
        raise AlgorithmFailure(f"{prefix}: {violation.message}") from None
    if "updater" in values:
        values["updater"] = ",".join(values["updater"])
    plan = container_metrics.evaluation_plan(
        values.get("_tuning_objective_metric"), values.get("eval_metric"), values.get("early_stopping_rounds")
    )
    params = {k: v for k, v in values.items() if k not in container_rules.CONTAINER_ONLY}
    params.pop("eval_metric", None)
    if plan.native:
        params["eval_metric"] = plan.native
    params.setdefault("nthread", nthread)
    params.setdefault("verbosity", 0)
    stopping = plan.early_stopping_metric
    return TrainingConfig(
        params=params,
        num_round=values["num_round"],
        early_stopping_rounds=values.get("early_stopping_rounds"),
        csv_weights=values.get("csv_weights", 0),
        objective_metric=values.get("_tuning_objective_metric"),
        early_stopping_metric=stopping,
        custom_metrics=plan.custom,
        early_stopping_maximize=bool(stopping)
        and container_metrics.maximized(stopping, container.maximize_metrics),
        kfold=values.get("_kfold"),
        num_cv_round=values.get("_num_cv_round", 1),
        save_model_on_termination=values.get("save_model_on_termination") == "true",
        version=version,
    )


# --- data ----------------------------------------------------------------------------------------------


def channel_data(
    files: list[tuple[str, bytes]], channel: str, content_type: str | None, csv_weights: int
) -> ChannelData | None:
    """The records of a channel's files (File mode, as the container reads them); None if they hold none."""
    return channels.read_channel(files, {"ChannelName": channel, "ContentType": content_type}, csv_weights)


# --- training ------------------------------------------------------------------------------------------

# after_round(epoch, objective value or None) -> a reason to stop now (e.g. "pruned") or None.
RoundHook = Callable[[int, float | None], str | None]
# constants/xgb_constants.py CUSTOMER_ERRORS: XGBoost and scikit-learn errors the container reports as the
# user's (ClientError); every other training error is an AlgorithmError.
_CUSTOMER_ERRORS = (
    "label must be in [0,1] for logistic regression",
    "label must be in [0, num_class)",
    "Target is multiclass but average='binary'",
    "feature_names mismatch",
    "Check failed: preds.size() == info.labels_.size()",
    "Check failed: !auc_error AUC: the dataset only contains pos or neg samples",
    "Check failed: base_score > 0.0f && base_score < 1.0f base_score must be in (0,1) for logistic loss",
    "Check failed: label_correct PoissonRegression: label must be nonnegative",
    "Check failed: label_correct TweedieRegression: label must be nonnegative",
    "Parameter reg_lambda should be greater equal to 0",
)


@dataclass
class TrainingOutcome:
    # The model file's bytes, or with k-fold the files by name (xgboost-model-0, -1...).
    model: bytes | dict[str, bytes]
    history: dict[str, dict[str, list[float]]]
    rounds: int
    stop_reason: str | None
    objective: float | None  # the objective metric's latest emitted value
    final: dict[str, float] | None = None  # k-fold: the means the container prints last

    def final_metrics(self) -> dict[str, float]:
        """The latest value of every metric, named as SageMaker names them (``validation:rmse``)."""
        if self.final is not None:
            return dict(self.final)
        return {
            f"{data}:{metric}": float(values[-1])
            for data, metrics in self.history.items()
            for metric, values in metrics.items()
            if values
        }


class _RoundCallback(xgb.callback.TrainingCallback):
    """Keeps one value per round and metric (the last one XGBoost logs: a metric the container computes
    itself under the name of XGBoost's default one is logged after it), and asks the hook whether to stop."""

    def __init__(self, objective: tuple[str, str] | None, hook: RoundHook | None) -> None:
        super().__init__()
        self.objective, self.hook = objective, hook
        self.stop_reason: str | None = None
        self.history: dict[str, dict[str, list[float]]] = {}

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        for data, metrics in evals_log.items():
            for metric, values in metrics.items():
                if values:
                    last = values[-1]
                    value = float(last[0] if isinstance(last, tuple) else last)
                    self.history.setdefault(data, {}).setdefault(metric, []).append(value)
        if self.hook is None:
            return False
        value = None
        if self.objective is not None:
            values = self.history.get(self.objective[0], {}).get(self.objective[1])
            value = values[-1] if values else None
        self.stop_reason = self.hook(epoch, value)
        return self.stop_reason is not None


def _failure(error: Exception) -> AlgorithmFailure:
    """The container's report of a training error; XGBoost's C++ stack trace is left out."""
    text = channels.xgboost_message(error) or type(error).__name__
    if any(message in text for message in _CUSTOMER_ERRORS):
        return AlgorithmFailure(f"ClientError: {text}")
    return AlgorithmFailure(f"AlgorithmError: XGB train call failed with exception:\n {text}")


def _callbacks(
    config: TrainingConfig, has_validation: bool, hook: _RoundCallback
) -> list[xgb.callback.TrainingCallback]:
    callbacks: list[xgb.callback.TrainingCallback] = []
    # callback.py: early stopping on the validation set only, keeping the best iteration's trees.
    if config.early_stopping_rounds and has_validation and config.early_stopping_metric:
        callbacks.append(
            xgb.callback.EarlyStopping(
                rounds=config.early_stopping_rounds,
                data_name="validation",
                metric_name=config.early_stopping_metric,
                maximize=config.early_stopping_maximize,
                save_best=True,
            )
        )
    callbacks.append(hook)
    return callbacks


def _boost(
    config: TrainingConfig,
    dtrain: xgb.DMatrix,
    evals: list[tuple[xgb.DMatrix, str]],
    has_validation: bool,
    hook: _RoundCallback,
) -> xgb.Booster:
    # verbosity 0 (the default here) keeps XGBoost's warnings about unused parameters quiet; they are
    # not silenced with warnings.catch_warnings, which is not thread-safe and jobs run in threads.
    return xgb.train(
        dict(config.params),
        dtrain,
        num_boost_round=config.num_round,
        evals=evals,
        custom_metric=container_metrics.custom_metric(config.custom_metrics),
        callbacks=_callbacks(config, has_validation, hook),
        verbose_eval=False,
    )


def train(
    config: TrainingConfig,
    train_data: ChannelData,
    validation_data: ChannelData | None,
    after_round: RoundHook | None = None,
) -> TrainingOutcome:
    for data in (train_data, validation_data):
        if data is not None and data.label_fault:
            raise AlgorithmFailure(
                "AlgorithmError: XGB train call failed with exception:\n "
                f"Label contains NaN, infinity or a value too large: {data.label_fault}"
            )
    if config.kfold:
        return _train_kfold(config, train_data, validation_data, after_round)
    nthread = int(config.params.get("nthread", DEFAULT_NTHREAD))
    dtrain = train_data.dmatrix(nthread)
    evals = [(dtrain, "train")]
    if validation_data is not None:
        evals.append((validation_data.dmatrix(nthread), "validation"))
    objective = tuple(config.objective_metric.split(":", 1)) if config.objective_metric else None
    hook = _RoundCallback(objective, after_round)  # type: ignore[arg-type]
    try:
        booster = _boost(config, dtrain, evals, validation_data is not None, hook)
    except Exception as e:  # the container turns every training error into its report
        raise _failure(e) from None
    value = None
    if objective is not None:
        values = hook.history.get(objective[0], {}).get(objective[1])
        value = values[-1] if values else None
    rounds = max((len(v) for m in hook.history.values() for v in m.values()), default=config.num_round)
    return TrainingOutcome(
        model=bytes(booster.save_raw("ubj")),
        history=hook.history,
        rounds=rounds,
        stop_reason=hook.stop_reason,
        objective=value,
    )


def _train_kfold(
    config: TrainingConfig,
    train_data: ChannelData,
    validation_data: ChannelData | None,
    after_round: RoundHook | None,
) -> TrainingOutcome:
    """train.py's cross-validation: ``_kfold`` folds over train and validation together, repeated
    ``_num_cv_round`` times (stratified for classification); every fold's model is evaluated on the whole
    train and validation channels, its model saved as ``xgboost-model-<fold>``; the metrics reported last
    are the means over all folds, printed with five decimals."""
    nthread = int(config.params.get("nthread", DEFAULT_NTHREAD))
    combined = train_data if validation_data is None else train_data.concat(validation_data)
    evals = [(train_data.dmatrix(nthread), "train")]
    if validation_data is not None:
        evals.append((validation_data.dmatrix(nthread), "validation"))
    models: dict[str, bytes] = {}
    histories: list[dict[str, dict[str, list[float]]]] = []
    stop_reason = None

    def hook(epoch: int, value: float | None) -> str | None:
        # Stop requests and the runtime limit apply; fold rounds are not one objective curve to prune on.
        return after_round(epoch, None) if after_round is not None else None

    try:
        objective, num_class = config.params.get("objective"), config.params.get("num_class")
        classification = num_class or objective.startswith("binary:")
        # The container draws folds at random; a fixed seed here lets offline runs repeat.
        splitter = (
            RepeatedStratifiedKFold(n_splits=config.kfold, n_repeats=config.num_cv_round, random_state=0)
            if classification
            else RepeatedKFold(n_splits=config.kfold, n_repeats=config.num_cv_round, random_state=0)
        )
        rows = np.arange(combined.rows)
        labels = combined.labels if classification else None
        for fold, (train_rows, _) in enumerate(splitter.split(rows, labels)):
            callback = _RoundCallback(None, hook)
            booster = _boost(
                config,
                combined.subset(train_rows).dmatrix(nthread),
                evals,
                validation_data is not None,
                callback,
            )
            models[f"{MODEL_FILE}-{fold}"] = bytes(booster.save_raw("ubj"))
            histories.append(callback.history)
            if callback.stop_reason is not None:
                stop_reason = callback.stop_reason
                break
    except Exception as e:
        raise _failure(e) from None
    final = {
        f"{data}:{metric}": round(float(np.mean([h[data][metric][-1] for h in histories])), 5)
        for data, metrics in histories[0].items()
        for metric in metrics
    }
    history = {
        data: {
            metric: [
                float(np.mean([h[data][metric][r] for h in histories]))
                for r in range(min(len(h[data][metric]) for h in histories))
            ]
            for metric in metrics
        }
        for data, metrics in histories[0].items()
    }
    return TrainingOutcome(
        model=models,
        history=history,
        rounds=max(len(v) for h in histories for m in h.values() for v in m.values()),
        stop_reason=stop_reason,
        objective=final.get(config.objective_metric) if config.objective_metric else None,
        final=final,
    )


def model_tarball(model: bytes | Mapping[str, bytes]) -> bytes:
    """``model.tar.gz`` as the container's output: ``xgboost-model``, or a k-fold job's models."""
    files = {MODEL_FILE: model} if isinstance(model, bytes | bytearray) else dict(model)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(body), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


@dataclass
class LoadedModel:
    """The models of ``model.tar.gz``; more than one (k-fold) predict as an ensemble (serve_utils.py)."""

    boosters: list[xgb.Booster]
    objective: str | None
    num_class: str = ""  # the saved config's learner_model_param, as serve.py reads it

    def num_features(self) -> int:
        return self.boosters[0].num_features()

    def predict(self, dmatrix: xgb.DMatrix) -> np.ndarray:
        if len(self.boosters) == 1:
            return self.boosters[0].predict(dmatrix, validate_features=False)
        predictions = np.stack([b.predict(dmatrix, validate_features=False) for b in self.boosters])
        if self.objective in ("multi:softmax", "binary:hinge"):
            # A vote: the most frequent value, the smallest among ties (scipy.stats.mode).
            return scipy_stats.mode(predictions, axis=0).mode
        return np.mean(predictions, axis=0)


def load_model(tarball: bytes) -> LoadedModel:
    """The model files of ``model.tar.gz``: every regular file but dotfiles, as the container loads them
    (all of them: ensemble inference is on by default)."""
    raws: list[bytes] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:*") as tar:
            for member in tar.getmembers():
                if not member.isfile() or member.name.rsplit("/", 1)[-1].startswith("."):
                    continue
                extracted = tar.extractfile(member)
                raws.append(extracted.read() if extracted is not None else b"")
    except tarfile.TarError as e:
        raise client_error(f"model.tar.gz could not be read: {e}") from None
    if not raws:
        raise client_error("model.tar.gz holds no model file")
    boosters = []
    for raw in raws:
        booster = xgb.Booster()
        try:
            booster.load_model(bytearray(raw))
        except xgb.core.XGBoostError as e:
            raise client_error(f"Unable to load model: {str(e).strip().splitlines()[0]}") from None
        booster.set_param("nthread", DEFAULT_NTHREAD)
        boosters.append(booster)
    config = json.loads(boosters[0].save_config())
    learner = config.get("learner", {})
    objective = learner.get("objective", {}).get("name")
    return LoadedModel(boosters, objective, str(learner.get("learner_model_param", {}).get("num_class", "")))


# --- inference -----------------------------------------------------------------------------------------


def predict_csv(model: LoadedModel, records: list[list[str]]) -> np.ndarray:
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
    # The container checks the feature count itself only for pickled models; for the models it saves, the
    # check is XGBoost's: fewer columns than the model's pass, more fail.
    try:
        return model.predict(xgb.DMatrix(features, nthread=DEFAULT_NTHREAD))
    except xgb.core.XGBoostError as e:
        raise client_error(f"Unable to evaluate payload provided: {channels.xgboost_message(e)}") from None


def format_prediction(value: Any) -> str:
    """One prediction as the container writes it in batch mode (serve.py: ``str`` of each element of
    ``predictions.tolist()``): a float32 widened to a Python float, e.g. ``0.30000001192092896``; a
    multi-class row as a list."""
    return str(np.asarray(value).tolist())
