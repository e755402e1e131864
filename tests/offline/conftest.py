"""Fixtures of the offline workflow tests: engines on small data, broken copies of the definition and code.

Every engine is a fresh moto account with the template's stack in it (about half a second once the
modules are imported), so no test sees another's jobs, faults or objects.
"""

from __future__ import annotations

import io
import random
import shutil
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import xgboost as xgb
from moto import mock_aws

from offline import xgboost_algorithm
from offline.engine import Engine
from offline.template import DEFINITION_FILE, ROOT
from tests.conftest import _FAKE_AWS_ENV
from tests.offline.emulator_support import Workspace, model_request, tuning_request

FUNCTIONS_DIR = ROOT / "functions"

# Small enough for a second or two per run; the defaults of the execution input are 10,000/2,000/2,000.
SMALL_INPUT = {"trainRows": 300, "validationRows": 100, "testRows": 100}
# Template parameters: three training jobs, one at a time (the defaults are 20 and 4). A few hundred rows
# cannot reach 1.25x the noise floor (the default gate; measured ~1.6x), so the gate gets a loose threshold of
# its own: it still runs, and passes. The gate's own tests set theirs.
FEW_JOBS = {"MaxTrainingJobs": 3, "MaxParallelTrainingJobs": 1, "MaxTestRmse": "5"}


def small_run_arguments(max_jobs: int = FEW_JOBS["MaxTrainingJobs"]) -> list[str]:
    """``python -m offline``'s options for a run of SMALL_INPUT's rows, ``max_jobs`` training jobs one at a
    time, and FEW_JOBS's loose quality gate."""
    rows = [("--rows", "trainRows"), ("--validation-rows", "validationRows"), ("--test-rows", "testRows")]
    return [
        *(part for option, key in rows for part in (option, str(SMALL_INPUT[key]))),
        *("--max-jobs", str(max_jobs), "--parallel-jobs", str(FEW_JOBS["MaxParallelTrainingJobs"])),
        *("-p", f"MaxTestRmse={FEW_JOBS['MaxTestRmse']}"),
    ]


# Rounds after which ``every_job_stopped`` stops a training job.
STOP_AFTER_ROUND = 3


@pytest.fixture
def sagemaker_events() -> list[tuple[str, dict[str, Any]]]:
    """What the SageMaker emulator reported (event name, data), in order."""
    return []


@pytest.fixture
def make_engine(sagemaker_events: list[tuple[str, dict[str, Any]]]) -> Iterator[Callable[..., Engine]]:
    """``make_engine(**kwargs)``: a started Engine (FEW_JOBS unless ``parameters`` is given)."""
    started: list[Engine] = []

    def make(**kwargs: Any) -> Engine:
        kwargs.setdefault("parameters", FEW_JOBS)
        kwargs.setdefault("sagemaker_listener", lambda event, data: sagemaker_events.append((event, data)))
        engine = Engine(**kwargs)
        engine.__enter__()
        started.append(engine)
        return engine

    yield make
    for engine in reversed(started):
        engine.__exit__(None, None, None)


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:
    return make_engine()


@pytest.fixture
def broken_definition(tmp_path: Path) -> Callable[..., Path]:
    """``broken_definition(old, new, times=1)``: a copy of the definition with ``old`` (found ``times``
    times) replaced."""

    def make(old: str, new: str, times: int = 1) -> Path:
        text = DEFINITION_FILE.read_text(encoding="utf-8")
        assert text.count(old) == times, f"{old!r} occurs {text.count(old)} times in the definition"
        path = tmp_path / "broken.asl.json"
        path.write_text(text.replace(old, new), encoding="utf-8")
        return path

    return make


@pytest.fixture
def broken_function(tmp_path: Path) -> Callable[[str, str, str], Path]:
    """``broken_function(dir, old, new)``: a copy of ``functions/<dir>`` whose app.py has ``old`` replaced."""

    def make(function_dir: str, old: str, new: str) -> Path:
        target = tmp_path / function_dir
        shutil.copytree(FUNCTIONS_DIR / function_dir, target, ignore=shutil.ignore_patterns("__pycache__"))
        app = target / "app.py"
        text = app.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {function_dir}/app.py"
        app.write_text(text.replace(old, new), encoding="utf-8")
        return target

    return make


@pytest.fixture
def every_job_stopped(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every training job is stopped after STOP_AFTER_ROUND rounds, as MaxRuntimeInSeconds stops it; yields
    the rounds each job trained."""
    trained: list[int] = []
    train = xgboost_algorithm.train

    def stopped(config: Any, train_data: Any, validation: Any, after_round: Any = None) -> Any:
        def hook(epoch: int, value: float | None) -> str | None:
            if epoch + 1 >= STOP_AFTER_ROUND:
                return "max_runtime"
            return after_round(epoch, value) if after_round else None

        outcome = train(config, train_data, validation, hook)
        trained.append(outcome.rounds)
        return outcome

    monkeypatch.setattr(xgboost_algorithm, "train", stopped)
    yield trained


# The SageMaker emulator's tests: one moto mock per module, a workspace (bucket and emulator) per test.


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in _FAKE_AWS_ENV.items():
            patch.setenv(key, value)
        with mock_aws():
            yield


@pytest.fixture(scope="module")
def friedman1() -> Callable[..., Any]:
    """Rows ``[label, *features]`` as the generate_dataset handler makes them (the offline run's data)."""
    import friedman

    def rows(count: int, rng: random.Random, noise: float) -> list[list[float]]:
        made: list[list[float]] = []
        for start in range(0, count, friedman.BATCH_ROWS):
            labels, lines, _ = friedman.friedman1_batch(min(friedman.BATCH_ROWS, count - start), rng, noise)
            features = [[float(v) for v in line.split(b",")] for line in lines.splitlines()]
            made += ([y, *x] for y, x in zip(labels, features, strict=True))
        return made

    return rows


@pytest.fixture
def workspace(aws: None, friedman1: Callable[..., Any]) -> Workspace:
    return Workspace(friedman1)


@pytest.fixture(scope="module")
def tuned(aws: None, friedman1: Callable[..., Any]) -> tuple[Workspace, dict[str, Any]]:
    """One finished tuning job of the definition's configuration (4 jobs, 2 at a time), shared read-only."""
    space = Workspace(friedman1)
    return space, space.tune(tuning_request(space.dataset))


@pytest.fixture(scope="module")
def best_model(tuned: tuple[Workspace, dict[str, Any]]) -> tuple[Workspace, str, xgb.Booster]:
    """The best training job's model, created as the definition creates it, and the booster it holds."""
    space, description = tuned
    name = description["BestTrainingJob"]["TrainingJobName"]
    artifact = space.sagemaker.describe_training_job(TrainingJobName=name)["ModelArtifacts"][
        "S3ModelArtifacts"
    ]
    space.sagemaker.create_model(**model_request(name, artifact))
    with tarfile.open(fileobj=io.BytesIO(space.get(artifact)), mode="r:gz") as tar:
        member = tar.extractfile("xgboost-model")
        assert member is not None
        booster = xgb.Booster()
        booster.load_model(bytearray(member.read()))
    return space, name, booster
