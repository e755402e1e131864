"""``python -m report --execution-arn ARN`` (``make report``): the report of a finished cloud execution.

Reads the execution (DescribeExecution, and its history when it failed) for the run's bucket and prefix,
downloads the run's objects with boto3 and writes ``<out dir>/<run name>/report.html``; prints its path.
Exit status 1 when the execution or its objects cannot be found.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError

from report.build import build_report
from report.collect import ReportInputError

DEFAULT_OUT_DIR = Path("reports")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m report", description=__doc__.splitlines()[0])
    parser.add_argument("--execution-arn", required=True, help="ARN of the execution to report on")
    parser.add_argument("--profile", help="AWS profile (default: the usual credential chain)")
    parser.add_argument("--region", help="region (default: the one in the execution ARN)")
    parser.add_argument(
        "--out-dir", type=Path, default=DEFAULT_OUT_DIR, help=f"where to write ({DEFAULT_OUT_DIR}/)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    arn_parts = args.execution_arn.split(":")
    if len(arn_parts) < 8 or arn_parts[2] != "states" or arn_parts[5] != "execution":
        print(f"not a Step Functions execution ARN: {args.execution_arn}", file=sys.stderr)
        return 2
    region = args.region or arn_parts[3]
    try:
        session = boto3.Session(profile_name=args.profile, region_name=region)
        path, data = build_report(
            session.client("stepfunctions"),
            session.client("s3"),
            args.execution_arn,
            args.out_dir,
            sagemaker=session.client("sagemaker"),
        )
    except (ReportInputError, BotoCoreError) as e:
        print(f"no report: {e}", file=sys.stderr)
        return 1
    for problem in data.problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
