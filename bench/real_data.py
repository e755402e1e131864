"""Real data: the default configuration's test RMSE against plain XGBoost with early stopping, same splits.

Each data set ships inside an installed package (no download at run time). Each split (one seed) shuffles
the rows into train/validation/test (60/20/20). "Ours" is the whole offline run on those three files as
the user's own data (``data`` in the execution input): the real definition with the template's defaults,
the emulated tuning job, the batch transform, the evaluation's test RMSE. The baseline is trained in this
process on the same train and validation files: XGBoost with eta 0.3, up to 1,000 rounds, early stopping
after 30 rounds without improvement on the validation set, every other hyperparameter at its default; its
test RMSE uses the best iteration. The figure is ours / baseline per split; per data set the geometric
mean over the splits counts.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import load_average, machine, summary

TARGET_MEAN = 0.97  # geometric mean of ours / baseline over every split of every data set
TARGET_WORST_SET = 1.00  # no data set's geometric mean above this
DEFAULT_SPLITS = (0, 1, 2, 3, 4)
QUICK_SPLITS = (0,)
BUCKET = "bench-real-data"
BASELINE = {"eta": 0.3, "num_round": 1000, "early_stopping_rounds": 30}


@dataclass(frozen=True)
class DataSet:
    name: str
    source: str
    target: str
    load: Callable[[], tuple[np.ndarray, np.ndarray]]


def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    return np.asarray(data.data, dtype=float), np.asarray(data.target, dtype=float)


def _cars() -> tuple[np.ndarray, np.ndarray]:
    from vega_datasets import local_data

    frame = local_data.cars().dropna(subset=["Miles_per_Gallon"])
    origin = frame["Origin"].astype("category").cat.codes.astype(float)
    features = frame[["Cylinders", "Displacement", "Horsepower", "Weight_in_lbs", "Acceleration"]]
    year = frame["Year"].dt.year.astype(float)
    x = np.column_stack([features.to_numpy(dtype=float), year.to_numpy(), origin.to_numpy()])
    return x, np.log(frame["Miles_per_Gallon"].to_numpy(dtype=float))


def _statsmodels(name: str, label: str, transform: Callable[[Any], Any] = lambda y: y):
    def load() -> tuple[np.ndarray, np.ndarray]:
        import statsmodels.api as sm

        frame = getattr(sm.datasets, name).load_pandas().data
        return frame.drop(columns=[label]).to_numpy(dtype=float), np.asarray(
            transform(frame[label].to_numpy(dtype=float)), dtype=float
        )

    return load


def _star98() -> tuple[np.ndarray, np.ndarray]:
    import statsmodels.api as sm

    frame = sm.datasets.star98.load_pandas().data
    share = frame["NABOVE"] / (frame["NABOVE"] + frame["NBELOW"])
    return frame.drop(columns=["NABOVE", "NBELOW"]).to_numpy(dtype=float), share.to_numpy(dtype=float)


DATA_SETS = (
    DataSet("star98", "statsmodels", "share of pupils above the maths median (0-1)", _star98),
    DataSet("cars", "vega_datasets", "log miles per gallon; Horsepower has missing values", _cars),
    DataSet("diabetes", "scikit-learn", "disease progression (raw, 25-346)", _diabetes),
    DataSet(
        "fair", "statsmodels", "time in extramarital affairs (raw, mostly 0)", _statsmodels("fair", "affairs")
    ),
    DataSet("randhie", "statsmodels", "log(1 + doctor visits)", _statsmodels("randhie", "mdvis", np.log1p)),
)


def _csv(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Label first, no header, an empty field for a missing value (as the built-in XGBoost reads CSV)."""
    with path.open("w", encoding="utf-8") as out:
        for label, row in zip(y, x, strict=True):
            fields = [repr(float(label))] + ["" if math.isnan(v) else repr(float(v)) for v in row]
            out.write(",".join(fields) + "\n")


def split(x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    order = np.random.default_rng(seed).permutation(len(y))
    n_train, n_validation = int(0.6 * len(y)), int(0.2 * len(y))
    parts = {
        "train": order[:n_train],
        "validation": order[n_train : n_train + n_validation],
        "test": order[n_train + n_validation :],
    }
    return {name: (x[rows], y[rows]) for name, rows in parts.items()}


def baseline_rmse(parts: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> tuple[float, int]:
    """Plain XGBoost with early stopping on the validation set: test RMSE and the rounds it kept."""
    import xgboost as xgb

    train, validation = (xgb.DMatrix(*parts[name]) for name in ("train", "validation"))
    booster = xgb.train(
        {"objective": "reg:squarederror", "eval_metric": "rmse", "eta": BASELINE["eta"], "seed": 0},
        train,
        num_boost_round=BASELINE["num_round"],
        evals=[(validation, "validation")],
        early_stopping_rounds=BASELINE["early_stopping_rounds"],
        verbose_eval=False,
    )
    x_test, y_test = parts["test"]
    prediction = booster.predict(xgb.DMatrix(x_test), iteration_range=(0, booster.best_iteration + 1))
    return float(np.sqrt(np.mean((prediction - y_test) ** 2))), booster.best_iteration + 1


def geometric_mean(values: Sequence[float]) -> float:
    return float(math.exp(sum(math.log(v) for v in values) / len(values)))


def measure(
    splits: Sequence[int] = DEFAULT_SPLITS,
    *,
    data_sets: Sequence[DataSet] = DATA_SETS,
    parameters: Mapping[str, str] | None = None,
    definition_path: Path | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """``parameters`` (template parameters) and ``definition_path`` (a changed copy of the definition) are
    for experiments and tests; the default is the template's defaults and the definition as it is."""
    from offline.engine import Engine
    from offline.template import DEFINITION_FILE

    started_load = load_average()
    started = time.monotonic()
    parameters = {"QualityGate": "Disabled", "ExternalDataBuckets": BUCKET, **(parameters or {})}
    sets: dict[str, Any] = {}
    every_ratio: list[float] = []
    engine_context = Engine(parameters=parameters, definition_path=definition_path or DEFINITION_FILE)
    with engine_context as engine, tempfile.TemporaryDirectory(prefix="bench-real-") as tmp:
        region = engine.stack.region
        location = (
            {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        engine.s3.create_bucket(Bucket=BUCKET, **location)
        for data_set in data_sets:
            x, y = data_set.load()
            runs = []
            for seed in splits:
                parts = split(x, y, seed)
                uris = {}
                for name, (px, py) in parts.items():
                    path = Path(tmp) / f"{name}.csv"
                    _csv(path, px, py)
                    key = f"{data_set.name}/{seed}/{name}.csv"
                    engine.s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
                    uris[f"{name}Uri"] = f"s3://{BUCKET}/{key}"
                result = engine.run({"data": uris})
                if result.status != "SUCCEEDED":
                    raise RuntimeError(f"{data_set.name}, split {seed}: {result.status}: {result.cause}")
                ours = float(result.output["evaluation"]["rmse"])
                base, rounds = baseline_rmse(parts)
                counters = result.output["tuning"].get("trainingJobStatusCounters") or {}
                run = {
                    "split": seed,
                    "ours_rmse": round(ours, 6),
                    "baseline_rmse": round(base, 6),
                    "baseline_rounds": rounds,
                    "ratio": round(ours / base, 4),
                    "training_jobs": sum(v for k, v in counters.items() if k != "InProgress"),
                    "best_hyperparameters": result.output["tuning"].get("hyperparameters"),
                    "wall_seconds": round(result.wall_seconds, 2),
                }
                runs.append(run)
                every_ratio.append(run["ratio"])
                jobs = run["training_jobs"]
                log(f"real data {data_set.name} split {seed}: ratio {run['ratio']:.3f} ({jobs} jobs)")
            ratios = [r["ratio"] for r in runs]
            sets[data_set.name] = {
                "source": data_set.source,
                "target": data_set.target,
                "rows": len(y),
                "features": x.shape[1],
                "missing_values": int(np.isnan(x).sum()),
                "runs": runs,
                "ratio": summary(ratios),
                "geometric_mean": round(geometric_mean(ratios), 4),
                "training_jobs": summary([r["training_jobs"] for r in runs]),
            }
    overall = round(geometric_mean(every_ratio), 4)
    worst = max(s["geometric_mean"] for s in sets.values())
    return {
        "description": "test RMSE of the default configuration (the whole offline run on the split as own "
        "data) / test RMSE of XGBoost with eta 0.3, 1,000 rounds, early stopping 30 on the validation set, "
        "trained in this process on the same split; train/validation/test 60/20/20, one shuffle per split",
        "splits": list(splits),
        "baseline": BASELINE,
        "target": {"geometric_mean_at_most": TARGET_MEAN, "every_set_at_most": TARGET_WORST_SET},
        "data_sets": sets,
        "geometric_mean": overall,
        "worst_set": worst,
        "meets_target": overall <= TARGET_MEAN and worst <= TARGET_WORST_SET,
        "seconds": round(time.monotonic() - started, 1),
        "machine": machine(started_load),
    }
