"""The command line of ``python -m offline``: its arguments, and the execution input, template parameters and
uploads they give."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from offline.template import DEFAULT_REGION, DEFINITION_FILE, TEMPLATE_FILE

# S3's bucket naming rules (general purpose buckets): 3-63 lowercase letters, digits, dots and hyphens,
# starting and ending with a letter or digit.
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class CommandLineError(ValueError):
    """An argument the run cannot use: the message names it and says what is expected."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m offline",
        description="Run statemachine/tuning.asl.json end to end offline: moto's Step Functions engine, the "
        "real Lambda handlers, SageMaker emulated with XGBoost on the CPU.",
    )
    parser.add_argument(
        "--input",
        metavar="FILE|-|JSON",
        help="execution input: a JSON file (e.g. events/execution_input_overrides.json), - for standard "
        "input, or the JSON itself ('{\"trainRows\": 5000}'); default {}",
    )
    parser.add_argument(
        "--quiet",
        "-q",
        "--json",
        action="store_true",
        help="nothing on stderr: only the result, one JSON line on stdout (for jq)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="copy the run's objects (data, model.tar.gz, predictions, metrics.json, the training jobs' "
        "history) from the emulated S3 into DIR before it goes with the process",
    )
    data = parser.add_argument_group("execution input keys (override --input)")
    data.add_argument("--rows", "--train-rows", dest="trainRows", type=int, metavar="N", help="training rows")
    data.add_argument("--validation-rows", dest="validationRows", type=int, metavar="N")
    data.add_argument("--test-rows", dest="testRows", type=int, metavar="N")
    data.add_argument("--noise", dest="noise", type=float, metavar="SIGMA")
    data.add_argument("--seed", dest="seed", type=int, metavar="N")
    stack = parser.add_argument_group("template parameters (defaults from template.yaml)")
    stack.add_argument("--max-jobs", type=int, metavar="N", help="MaxTrainingJobs")
    stack.add_argument("--parallel-jobs", type=int, metavar="N", help="MaxParallelTrainingJobs")
    stack.add_argument(
        "--parameter",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any template parameter, e.g. -p XGBoostVersion=1.7-1 (repeatable)",
    )
    stack.add_argument(
        "--upload",
        action="append",
        default=[],
        metavar="FILE=s3://BUCKET/KEY",
        help="put a local file into the emulated S3 before the run, for an input's own data (repeatable); "
        "the buckets are created and, unless -p ExternalDataBuckets=... is given, listed in that parameter",
    )
    stack.add_argument(
        "--region", default=DEFAULT_REGION, help=f"region to resolve the template for ({DEFAULT_REGION})"
    )
    parser.add_argument(
        "--definition", type=Path, default=DEFINITION_FILE, help="state machine definition to run"
    )
    parser.add_argument(
        "--template", type=Path, default=TEMPLATE_FILE, help="SAM template giving the substitutions"
    )
    parser.add_argument("--name", help="execution name (default: a UUID, as the console generates)")
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=Path(os.environ.get("REPORT_DIR") or "reports"),
        help="where the run's report goes: <dir>/<run name>/report.html (default $REPORT_DIR or reports)",
    )
    parser.add_argument("--no-report", action="store_true", help="do not write the report")
    return parser.parse_args(argv)


def execution_input(args: argparse.Namespace) -> Any:
    value: Any = {}
    if args.input is not None:
        value = read_input(args.input)
    overrides = {
        key: getattr(args, key)
        for key in ("trainRows", "validationRows", "testRows", "noise", "seed")
        if getattr(args, key) is not None
    }
    if overrides:
        if not isinstance(value, dict):
            raise CommandLineError("--rows/--noise/--seed need an execution input that is a JSON object")
        value = {**value, **overrides}
    return value


def read_input(source: str) -> Any:
    """``--input``: ``-`` reads standard input, text starting with ``{`` is the JSON itself, else a file."""
    where = "standard input" if source == "-" else source
    try:
        if source == "-":
            text = sys.stdin.read()
        elif source.lstrip().startswith(("{", "[")):
            text, where = source, "the JSON given"
        else:
            text = Path(source).read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as e:
        raise CommandLineError(f"--input {source}: {e.strerror or e}") from e
    except ValueError as e:
        raise CommandLineError(f"--input: {where} is not JSON: {e}") from e


def template_parameters(args: argparse.Namespace) -> dict[str, str]:
    parameters: dict[str, str] = {}
    if args.max_jobs is not None:
        parameters["MaxTrainingJobs"] = str(args.max_jobs)
    if args.parallel_jobs is not None:
        parameters["MaxParallelTrainingJobs"] = str(args.parallel_jobs)
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep:
            raise CommandLineError(f"--parameter {item!r}: expected NAME=VALUE")
        parameters[name.strip()] = value.strip()
    buckets = sorted({bucket for _, bucket, _ in uploads(args)})
    if buckets and "ExternalDataBuckets" not in parameters:
        parameters["ExternalDataBuckets"] = ",".join(buckets)
    return parameters


def uploads(args: argparse.Namespace) -> list[tuple[Path, str, str]]:
    """``--upload FILE=s3://BUCKET/KEY`` as (file, bucket, key), each file checked to exist."""
    found = []
    for item in args.upload:
        name, sep, uri = item.partition("=")
        bucket, slash, key = uri.removeprefix("s3://").partition("/")
        if not sep or not uri.startswith("s3://") or not bucket or not slash or not key:
            raise CommandLineError(f"--upload {item!r}: expected FILE=s3://BUCKET/KEY")
        if not BUCKET_NAME.fullmatch(bucket) or ".." in bucket:
            raise CommandLineError(
                f"--upload {item!r}: {bucket!r} is not a valid S3 bucket name (3 to 63 lowercase letters, "
                "digits, dots and hyphens, starting and ending with a letter or digit)"
            )
        path = Path(name)
        if not path.is_file():
            raise CommandLineError(f"--upload {item!r}: {path} is not a file")
        found.append((path, bucket, key))
    return found
