"""Why the first function validates with a generated module: the cold-start cost of three validators.

The execution input is validated against schema/execution-input.schema.json. Three ways, each timed in a fresh
interpreter (``python -c``, no bytecode written, the generated module compiled from source as from a
read-only deployment package) around its import plus one validation, interpreter start-up left out:

- ``generated``: functions/generate_dataset/input_validator.py, made from the schema at build time by
  fastjsonschema's ``compile_to_code`` (``make schema``): standard library only, nothing to install.
- ``fastjsonschema``: fastjsonschema as a runtime dependency, compiling the schema at start.
- ``jsonschema``: the reference implementation, ``Draft202012Validator``.

Also the size each adds to the deployment package. Usage: ``python -m bench.input_validation [--rounds N]``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.common import FUNCTIONS_DIR, ROOT, load_average, machine, summary

SCHEMA = ROOT / "schema" / "execution-input.schema.json"
GENERATED = FUNCTIONS_DIR / "generate_dataset" / "input_validator.py"
SAMPLE = {"trainRows": 5000, "strategy": "Random", "spot": True, "maxTestRmse": 1.2}
TARGETS = {
    "generated": (
        "import input_validator as v\nv.validate_urn_sagemaker_xgboost_tuning_execution_input({sample})"
    ),
    "fastjsonschema": "import fastjsonschema\nv = fastjsonschema.compile({schema})\nv({sample})",
    "jsonschema": "import jsonschema\njsonschema.Draft202012Validator({schema}).validate({sample})",
}
# The distributions each option would add to the function's package.
PACKAGES = {
    "generated": (),
    "fastjsonschema": ("fastjsonschema",),
    "jsonschema": ("jsonschema", "jsonschema-specifications", "referencing", "rpds-py", "attrs"),
}
_CHILD = (
    "import sys, time\nsys.path.insert(0, {path!r})\nstarted = time.perf_counter()\n{code}\n"
    "print(time.perf_counter() - started)\n"
)


def installed_bytes(distribution: str) -> int:
    files = metadata.distribution(distribution).files or []
    return sum(
        Path(metadata.distribution(distribution).locate_file(f)).stat().st_size
        for f in files
        if "__pycache__" not in str(f)
    )


def package_bytes(option: str) -> int:
    if option == "generated":
        return GENERATED.stat().st_size
    return sum(installed_bytes(name) for name in PACKAGES[option])


def measure(rounds: int = 9, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    started_load = load_average()
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    seconds: dict[str, list[float]] = {name: [] for name in TARGETS}
    with tempfile.TemporaryDirectory(prefix="bench-input-validation-") as tmp:
        shutil.copy2(GENERATED, Path(tmp) / GENERATED.name)
        codes = {
            name: _CHILD.format(path=tmp, code=code.format(schema=repr(schema), sample=repr(SAMPLE)))
            for name, code in TARGETS.items()
        }
        order = list(TARGETS)
        shuffle = random.Random(20261128)  # noqa: S311 -- an order of runs, not a secret
        for i in range(rounds):
            shuffle.shuffle(order)
            for name in order:
                done = subprocess.run(  # noqa: S603 -- our own interpreter, fixed code
                    [sys.executable, "-c", codes[name]],
                    env={"PYTHONDONTWRITEBYTECODE": "1"},
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=True,
                )
                seconds[name].append(float(done.stdout))
            log(f"round {i + 1}/{rounds}")
    return {
        "description": __doc__,
        "machine": machine(started_load),
        "options": {
            name: {"seconds": summary(values), "package_bytes": package_bytes(name)}
            for name, values in seconds.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)
    result = measure(args.rounds, log=lambda _: None)
    for name, figures in result["options"].items():
        print(
            f"{name:15s} median {figures['seconds']['median'] * 1000:6.1f} ms  "
            f"package +{figures['package_bytes'] / 1024:,.0f} KiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
