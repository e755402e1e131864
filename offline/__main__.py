"""``python -m offline``: the state machine end to end on this machine, with progress and a summary.

Progress goes to stderr as it happens: each state entered and left (from the execution history), each
training job with its hyperparameters and objective as it finishes, the best so far. At the end, on
stderr: the execution's status, the best hyperparameters, the test RMSE of the batch predictions against
the test labels (both read from S3) beside the data's noise floor, and the wall time. Then the run's report
(``report/``: the same one ``make report`` builds from a cloud execution) is written to
``<report dir>/<run name>/report.html`` and its path printed; ``--out DIR`` keeps a copy of the run's
objects (the emulated S3 goes with the process). The last line on stdout is the execution's result as one
JSON object, and the only line there: ``--quiet`` (or ``--json``) also silences stderr. Exit status: 0 the
execution succeeded, 1 it failed, 2 the run could not start, 130 interrupted (Ctrl-C: the execution is
stopped and the result says ABORTED).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from offline.cli_args import CommandLineError, execution_input, parse_args, template_parameters, uploads
from offline.progress import Progress, log_warnings_to_stderr
from offline.stack_resources import create_bucket
from offline.summary import keep_objects, summarise, write_report

if TYPE_CHECKING:  # the engine loads moto, XGBoost and Optuna: imported once the first line is printed
    from offline.engine import Engine

EXIT_FAILED = 1
EXIT_NOT_STARTED = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command ended by Ctrl-C


def put_uploads(engine: Engine, args: argparse.Namespace, progress: Progress) -> None:
    """The files of ``--upload`` into the engine's S3 (moto), creating their buckets."""
    existing = {b["Name"] for b in engine.s3.list_buckets()["Buckets"]}
    for path, bucket, key in uploads(args):
        if bucket not in existing:
            create_bucket(engine.s3, bucket, engine.stack.region)
            existing.add(bucket)
        engine.s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        progress.line(f"uploaded {path} to s3://{bucket}/{key}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    progress = Progress(sys.stderr, enabled=not args.quiet)
    progress.line("starting: loading the engine (moto's Step Functions, the handlers, XGBoost, Optuna)")
    with log_warnings_to_stderr(enabled=not args.quiet):
        started = time.monotonic()
        engine: Engine | None = None
        try:
            from offline.engine import Engine, OfflineRunError

            try:
                execution = execution_input(args)
                engine = Engine(
                    parameters=template_parameters(args),
                    region=args.region,
                    template_path=args.template,
                    definition_path=args.definition,
                    sagemaker_listener=progress.on_sagemaker,
                )
                with engine:
                    # Caught inside: leaving the engine waits for its handlers, which Ctrl-C must not.
                    try:
                        put_uploads(engine, args, progress)
                        progress.line(f"state machine {engine.state_machine_arn}")
                        progress.line(f"execution input {json.dumps(execution)}")
                        result = engine.run(execution, name=args.name, on_event=progress.on_event)
                        summarise(engine, result, progress)
                        if not args.no_report:
                            write_report(engine, result, args.report_dir, progress)
                        if args.out is not None:
                            keep_objects(engine, result, args.out, progress)
                    except KeyboardInterrupt:
                        interrupted(engine, progress, time.monotonic() - started)
            except (OfflineRunError, CommandLineError) as e:
                progress.line(f"the offline run could not start: {e}")
                print(json.dumps({"status": "FAILED", "error": type(e).__name__, "cause": str(e)}))
                return EXIT_NOT_STARTED
        except KeyboardInterrupt:
            interrupted(engine, progress, time.monotonic() - started)  # does not return
        progress.line(f"wall time: {time.monotonic() - started:.1f} s")
    print(json.dumps(result.summary()))
    return 0 if result.status == "SUCCEEDED" else EXIT_FAILED


def interrupted(engine: Engine | None, progress: Progress, seconds: float) -> NoReturn:
    """Ctrl-C: stops the running execution, prints the result line (ABORTED) and ends the process at once
    with 130. Ending it at once is what leaves nothing running: the training jobs and the handlers run in
    threads of this process, and the emulated AWS holds nothing outside it."""
    if engine is not None and engine.state_machine_arn:
        try:
            running = engine.sfn.list_executions(
                stateMachineArn=engine.state_machine_arn, statusFilter="RUNNING"
            )
            for execution in running.get("executions", []):
                engine.sfn.stop_execution(
                    executionArn=execution["executionArn"], error="Interrupted", cause="Ctrl-C (SIGINT)"
                )
        except Exception:  # noqa: S110 -- the process ends next either way
            pass
    progress.line(f"interrupted (Ctrl-C) after {seconds:.1f} s: the execution was stopped")
    print(
        json.dumps(
            {"status": "ABORTED", "error": "Interrupted", "cause": f"Ctrl-C (SIGINT) after {seconds:.1f} s"}
        ),
        flush=True,
    )
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
