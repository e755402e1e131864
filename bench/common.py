"""What every benchmark shares: the machine it ran on, medians, the fake AWS environment, handler loading."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import statistics
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from offline.stack_resources import FAKE_AWS_ENV as ENGINE_FAKE_AWS_ENV

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
REGION = "us-east-1"

# The offline engine's fake credentials (no profile, config file or instance metadata: nothing a benchmark
# starts can reach a real account), in the benchmarks' region.
FAKE_AWS_ENV = {
    **ENGINE_FAKE_AWS_ENV,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}

# Distributions whose versions decide the figures (xgboost is installed as xgboost-cpu).
KEY_LIBRARIES = ("boto3", "botocore", "moto", "xgboost-cpu", "optuna", "numpy", "awscrt")


def fake_aws_env() -> dict[str, str]:
    """This process's environment with the fake AWS settings, for subprocesses."""
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")}
    env.update(FAKE_AWS_ENV)
    return env


@contextmanager
def fake_aws() -> Iterator[None]:
    """The fake AWS settings in this process's environment, for the duration of the block."""
    with mock.patch.dict(os.environ, FAKE_AWS_ENV):
        for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            os.environ.pop(key, None)
        yield


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        # x86 says "model name"; some ARM kernels only "Hardware" or "CPU part".
        if key.strip().lower() in ("model name", "hardware", "processor name") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine()


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in KEY_LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def machine(load_at_start: Sequence[float] | None = None) -> dict[str, Any]:
    """The machine a section ran on, with the load average when the section started."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "libraries": library_versions(),
        "load_average_at_start": list(load_at_start) if load_at_start is not None else load_average(),
    }


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("no values to take the median of")
    return float(statistics.median(values))


def summary(values: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """Every value, their number, median, minimum and maximum."""
    return {
        "values": [round(v, digits) for v in values],
        "repetitions": len(values),
        "median": round(median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def rounded(mapping: Mapping[str, float], digits: int = 4) -> dict[str, float]:
    return {k: round(v, digits) for k, v in mapping.items()}
