"""Cold start: the import time of each handler module against a bare ``import boto3``.

Each import runs in a fresh interpreter (``python -c``), timed inside it with ``time.perf_counter`` around the
import statement alone, so interpreter start-up is left out of both sides. The targets are run in rounds, in
a shuffled order each round; a ratio is the median over the rounds of the ratio within each round. Each
handler is imported as the Lambda runtime imports it: ``app`` from a directory holding copies of its
modules and no ``__pycache__``, with bytecode writing off, so the module is compiled at every start as it is
from a read-only deployment package (boto3's own modules are read from their cached bytecode, as the
runtime's are).

Reference points besides ``import boto3``: ``import boto3`` followed by creating the clients a handler
uses (found in its source), what a handler that keeps its clients for the life of the execution environment,
as AWS recommends, pays once per cold start (ours at the first invocation, not at import); each handler is
also compared with its own reference. One ``-X importtime`` run per handler then says where its extra time
goes: the modules it imports that boto3 does not, and the time of the module's own body.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.common import FUNCTIONS_DIR, fake_aws_env, load_average, machine, median, summary

TARGET_RATIO = 1.1
DEFAULT_ROUNDS = 25
QUICK_ROUNDS = 5
BASELINE = "import boto3"
_CLIENT = re.compile(r"""boto3\.client\(\s*["']([a-z0-9-]+)["']""")
_CHILD = (
    "import sys, time\n"
    "sys.path.insert(0, {path!r})\n"
    "started = time.perf_counter()\n"
    "{statement}\n"
    "print(time.perf_counter() - started)\n"
)
_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def handler_dirs() -> list[str]:
    return sorted(p.parent.name for p in FUNCTIONS_DIR.glob("*/app.py"))


def client_services(function_dir: str) -> list[str]:
    """The services of the ``boto3.client(...)`` calls in a handler's source, in order."""
    source = (FUNCTIONS_DIR / function_dir / "app.py").read_text(encoding="utf-8")
    return list(dict.fromkeys(_CLIENT.findall(source)))


def reference_name(services: Sequence[str]) -> str:
    return "import boto3 + " + " + ".join(f"{s} client" for s in services) if services else BASELINE


def reference_statement(services: Sequence[str]) -> str:
    return "; ".join([BASELINE, *(f"boto3.client({s!r})" for s in services)])


def _child_code(statement: str, path: str = "") -> str:
    return _CHILD.format(path=path, statement=statement)


def _run(code: str, extra_args: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    env = fake_aws_env()
    env["BUCKET_NAME"] = "bench-cold-start-bucket"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    completed = subprocess.run(  # noqa: S603 -- our own interpreter, fixed code
        [sys.executable, *extra_args, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"python -c {code!r} failed: {completed.stderr.strip()[-2000:]}")
    return completed


def time_once(code: str) -> float:
    return float(_run(code).stdout.strip().splitlines()[-1])


def importtime(code: str) -> dict[str, tuple[int, int, int]]:
    """Module -> (self us, cumulative us, nesting level) from one ``-X importtime`` run."""
    modules: dict[str, tuple[int, int, int]] = {}
    for line in _run(code, ["-X", "importtime"]).stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            own, cumulative, indent, name = match.groups()
            modules[name] = (int(own), int(cumulative), len(indent) // 2)
    return modules


def _diagnose(targets: dict[str, str], top: int = 8) -> dict[str, Any]:
    """For each handler: what it imports beyond boto3, and the time of its own module body."""
    base = importtime(_child_code(BASELINE))
    found: dict[str, Any] = {}
    for name, code in targets.items():
        modules = importtime(code)
        extra = {m: v for m, v in modules.items() if m not in base and m != "app"}
        app_self, app_cumulative, _ = modules.get("app", (0, 0, 0))
        found[name] = {
            "module_body_ms": round(app_self / 1000, 2),
            "module_cumulative_ms": round(app_cumulative / 1000, 2),
            "imports_beyond_boto3_ms": round(sum(v[0] for v in extra.values()) / 1000, 2),
            "slowest_imports_beyond_boto3_ms": {
                m: round(v[0] / 1000, 2) for m, v in sorted(extra.items(), key=lambda kv: -kv[1][0])[:top]
            },
        }
    return found


def measure(rounds: int = DEFAULT_ROUNDS, *, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    started_load = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-cold-start-") as tmp:
        handlers: dict[str, str] = {}
        services = {name: client_services(name) for name in handler_dirs()}
        references = {
            reference_name(found): reference_statement(found) for found in services.values() if found
        }
        for name in handler_dirs():
            copy = Path(tmp) / name
            copy.mkdir()
            # The deployment package: app.py and the modules beside it (generate_dataset has several).
            for module in (FUNCTIONS_DIR / name).glob("*.py"):
                shutil.copy2(module, copy / module.name)
            handlers[name] = _child_code("import app", str(copy))
        targets = {
            "import boto3": _child_code(BASELINE),
            **{name: _child_code(code) for name, code in references.items()},
            **handlers,
        }
        order = list(targets)
        shuffle = random.Random(20261128)  # noqa: S311 -- an order of runs, not a secret
        seconds: dict[str, list[float]] = {name: [] for name in targets}
        for i in range(rounds):
            shuffle.shuffle(order)
            for name in order:
                seconds[name].append(time_once(targets[name]))
            log(f"cold_start round {i + 1}/{rounds}")
        diagnosis = _diagnose(handlers)
    baseline = median(seconds["import boto3"])

    def paired_ratio(name: str, reference: str) -> float:
        """The median over rounds of each round's ratio: both were timed within seconds of each other, so
        the machine's drift between rounds (seen here: stretches of rounds ~40% slower) cancels out."""
        return round(median([a / b for a, b in zip(seconds[name], seconds[reference], strict=True)]), 3)

    results: dict[str, Any] = {}
    for name, values in seconds.items():
        results[name] = {
            "seconds": summary(values, 4),
            "ratio_to_import_boto3": paired_ratio(name, "import boto3"),
        }
    for name in handlers:
        reference = reference_name(services[name])
        results[name]["clients"] = services[name]
        results[name]["reference"] = reference
        results[name]["ratio_to_reference"] = paired_ratio(name, reference)
        results[name]["diagnosis"] = diagnosis[name]
        results[name]["meets_target"] = results[name]["ratio_to_import_boto3"] <= TARGET_RATIO
    return {
        "description": __doc__.strip().split("\n\n", 1)[1] if __doc__ else "",
        "repetitions": rounds,
        "targets": results,
        "median": {name: results[name]["ratio_to_import_boto3"] for name in handlers},
        "baseline_median_seconds": round(baseline, 4),
        "notes": [
            "The handlers create their boto3 client at their first invocation, not at import (the clients "
            "found in their source are listed under clients): importing a handler costs about as much as "
            "import boto3, which is what this ratio measures. The client's own cost (import boto3 + client "
            "against import boto3, in the reference rows) is not saved but moved into the first invocation: "
            "a cold start as a whole is as long as with a module-level client; an invocation that fails "
            "validation never pays it.",
            "awscrt is installed here (libraries.awscrt), so botocore imports it and import boto3 is heavier "
            "than in the Lambda runtime, whose boto3 comes without awscrt: there the ratios are likely "
            "higher."
            if machine()["libraries"].get("awscrt")
            else "awscrt is not installed here, as in the Lambda runtime.",
        ],
        "target": {"ratio_to_import_boto3_at_most": TARGET_RATIO},
        "meets_target": all(results[name]["meets_target"] for name in handlers),
        "machine": machine(started_load),
    }
