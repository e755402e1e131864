"""The offline run's wall time for the default configuration (10,000 rows, the template's default jobs).

Two figures, measured one after the other in this script:

- ``cli``: ``python -m offline --quiet`` in a fresh subprocess, timed from outside: what a person waits for,
  interpreter start and imports included (the path ``make demo`` takes);
- ``in_process``: ``Engine.run({})`` on one engine already set up, the execution alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from bench.common import ROOT, fake_aws_env, load_average, machine, summary

TARGET_SECONDS = 30.0
DEFAULT_REPETITIONS = 3
QUICK_REPETITIONS = 1


def cli_run(args: tuple[str, ...] = (), timeout: float = 600.0) -> tuple[float, dict[str, Any]]:
    """Wall time of one ``python -m offline --quiet`` and the result it printed last."""
    command = [sys.executable, "-m", "offline", "--quiet", *args]
    started = time.perf_counter()
    completed = subprocess.run(  # noqa: S603 -- our own interpreter and module, fixed arguments
        command, cwd=ROOT, env=fake_aws_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    seconds = time.perf_counter() - started
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise RuntimeError(
            f"{' '.join(command)} exited with {completed.returncode}: {completed.stderr.strip()[-2000:]}"
        )
    return seconds, json.loads(lines[-1])


def in_process_runs(
    repetitions: int, execution_input: Any = None, parameters: Mapping[str, str] | None = None
) -> tuple[list[float], float]:
    """Wall times of ``repetitions`` executions on one engine, and the engine's set-up time."""
    from offline.engine import Engine

    started = time.perf_counter()
    with Engine(parameters=dict(parameters or {})) as engine:
        setup = time.perf_counter() - started
        seconds = []
        for _ in range(repetitions):
            result = engine.run({} if execution_input is None else execution_input)
            if result.status != "SUCCEEDED":
                raise RuntimeError(f"in-process run: {result.status}: {result.error}: {result.cause}")
            seconds.append(result.wall_seconds)
    return seconds, setup


def measure(
    repetitions: int = DEFAULT_REPETITIONS,
    *,
    cli_args: tuple[str, ...] = (),
    in_process_input: Any = None,
    in_process_parameters: Mapping[str, str] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """``cli_args``, ``in_process_input`` and ``in_process_parameters`` make a smaller run, for tests."""
    started_load = load_average()
    cli_seconds = []
    status = None
    for i in range(repetitions):
        seconds, result = cli_run(cli_args)
        status = result.get("status")
        if status != "SUCCEEDED":
            raise RuntimeError(f"python -m offline ended {status}: {result}")
        cli_seconds.append(seconds)
        log(f"offline_run cli {i + 1}/{repetitions}: {seconds:.1f} s")
    in_process, setup = in_process_runs(repetitions, in_process_input, in_process_parameters)
    log(f"offline_run in process: {', '.join(f'{s:.1f}' for s in in_process)} s (set-up {setup:.1f} s)")
    cli = summary(cli_seconds, digits=2)
    return {
        "description": "wall time of the default offline run (execution input {}, template defaults): "
        "`python -m offline --quiet` in a fresh subprocess, and Engine.run({}) in this process",
        "command": " ".join(["python", "-m", "offline", "--quiet", *cli_args]),
        "repetitions": repetitions,
        "cli_seconds": cli,
        "in_process_seconds": summary(in_process, digits=2),
        "in_process_engine_setup_seconds": round(setup, 2),
        "median": cli["median"],
        "target": {"cli_seconds_at_most": TARGET_SECONDS},
        "meets_target": cli["median"] <= TARGET_SECONDS,
        "machine": machine(started_load),
    }
