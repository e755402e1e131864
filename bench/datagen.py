"""Dataset generation: rows per second and peak memory of the generate_dataset handler, by size.

Every figure calls the real ``lambda_handler`` of ``functions/generate_dataset/app.py`` with an event as the
state machine sends it (``trainRows`` = the size, validation and test at their defaults of 2,000 rows each;
rows per second count every row written, all splits) and ``BUCKET_NAME`` set. Each part runs in a fresh
subprocess (``python -m bench.datagen --speed-worker`` / ``--memory-worker``), so that what earlier sections
left in this process (moto's engine, XGBoost) does not slow the garbage collector's passes.

- ``handler_moto``: S3 is moto's, in the same process (``mock_aws``). moto's own work (storing parts,
  assembling the object on CompleteMultipartUpload) is timed with the rest; the time the handler spent
  inside S3 calls is reported beside it (``s3_seconds_inside_handler_moto``: the sum over its threads; the
  handler sends a part from a background thread while it makes the next, so part of it overlaps).
- ``generation_only``: the same handler with its S3 client replaced by a sink that checks the parts and keeps
  nothing: the handler's own work (generation, formatting, buffering). Run alternately with the moto runs,
  in the same subprocess.
- ``memory``: one subprocess per size, after a warm-up call, separate from the timed runs (tracing slows
  Python about tenfold), with S3 served by moto's server in a process of its own (``python -m moto.server``
  on 127.0.0.1, reached through ``AWS_ENDPOINT_URL_S3``): the measured process holds what the function holds
  on Lambda, where S3's work is done elsewhere. Figures: tracemalloc's peak (the memory the handler and boto3
  hold: the measure of streaming, flat when the peaks do not grow with the rows) and the growth of the
  resident set over its level before the call, sampled every 2 ms (it adds what the C allocator keeps after
  Python frees it), and the untraced call's rows per second (S3's work on the other core).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any
from unittest import mock

from bench.common import ROOT, fake_aws, fake_aws_env, load_average, machine, summary
from functions.loader import load_handler, unload

SIZES = (10_000, 100_000, 1_000_000)
TARGET_ROWS_PER_SECOND = 250_000
VALIDATION_ROWS = TEST_ROWS = 2_000
BUCKET = "bench-datagen-bucket"
# The template sets STACK_TOKEN (the stack id's first group): every run name starts with it.
JOB_NAME_PREFIX = "0be7c4a1"
MIB = 1024 * 1024
# Repetitions by size (default, --quick).
REPETITIONS = {10_000: 9, 100_000: 5, 1_000_000: 3}
QUICK_REPETITIONS = {10_000: 2, 100_000: 1, 1_000_000: 1}
S3_MIN_PART = 5 * MIB
# Memory is flat if the peak at the largest size exceeds the peak at the next size (a tenth of the rows) by
# at most one 8 MiB part. (Below one part an object goes up in one PutObject: its peak is smaller.)
FLAT_TOLERANCE_MIB = 8
# The resident set is also measured (untraced) at the most rows one invocation writes by default (the
# template's DatasetShardRows, all splits): what a Lambda function of the default size has to hold.
SHARD_LIMIT_TRAIN_ROWS = 2_000_000 - VALIDATION_ROWS - TEST_ROWS
SERVER_START_SECONDS = 60


def rows_written(train_rows: int) -> int:
    return train_rows + VALIDATION_ROWS + TEST_ROWS


def event(train_rows: int, name: str) -> dict[str, Any]:
    arn = f"arn:aws:states:us-east-1:123456789012:execution:bench:{name}"
    return {
        # The template's defaults and the search space, as the state machine sends them with every event.
        **json.loads(
            (ROOT / "events" / "functions" / "GenerateDatasetFunction" / "generate_dataset.json").read_text()
        ),
        "input": {
            "trainRows": train_rows,
            "validationRows": VALIDATION_ROWS,
            "testRows": TEST_ROWS,
            "noise": 1.0,
            "seed": 42,
        },
        "execution": {"id": arn, "name": name, "startTime": "2026-11-28T10:00:00.000Z"},
    }


class SinkS3:
    """The S3 calls the handler makes, checked as S3 checks them, keeping only sizes."""

    def __init__(self) -> None:
        self.objects: dict[str, int] = {}
        self._uploads: dict[str, list[int]] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self.objects[Key] = len(Body)
        return {"ETag": '"sink"'}

    def create_multipart_upload(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        upload_id = f"upload-{len(self._uploads) + 1}"
        self._uploads[upload_id] = []
        return {"UploadId": upload_id}

    def upload_part(
        self, *, Bucket: str, Key: str, UploadId: str, PartNumber: int, Body: bytes, **_: Any
    ) -> dict[str, Any]:
        parts = self._uploads[UploadId]
        if PartNumber != len(parts) + 1:
            raise ValueError(f"part {PartNumber} after {len(parts)} parts")
        parts.append(len(Body))
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(
        self, *, Bucket: str, Key: str, UploadId: str, MultipartUpload: dict[str, Any], **_: Any
    ) -> dict[str, Any]:
        parts = self._uploads.pop(UploadId)
        if any(size < S3_MIN_PART for size in parts[:-1]):
            raise ValueError(f"{Key}: a part other than the last is under 5 MiB: {parts}")
        if len(MultipartUpload["Parts"]) != len(parts):
            raise ValueError(f"{Key}: {len(MultipartUpload['Parts'])} parts listed, {len(parts)} uploaded")
        self.objects[Key] = sum(parts)
        return {"ETag": '"sink"'}

    def abort_multipart_upload(self, *, Bucket: str, Key: str, UploadId: str, **_: Any) -> dict[str, Any]:
        self._uploads.pop(UploadId, None)
        return {}

    def delete_object(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        self.objects.pop(Key, None)
        return {}


@contextmanager
def moto_handler() -> Iterator[ModuleType]:
    """The generate_dataset handler, imported under moto, with its bucket and BUCKET_NAME."""
    import boto3
    from moto import mock_aws

    with fake_aws(), mock_aws():
        app = load_handler("generate_dataset")
        try:
            boto3.client("s3").create_bucket(Bucket=BUCKET)
            os.environ["BUCKET_NAME"] = BUCKET
            os.environ["STACK_TOKEN"] = JOB_NAME_PREFIX
            yield app
        finally:
            unload(app)


class S3Timer:
    """Time spent inside the handler's S3 client calls (botocore's before-call / after-call events).

    The handler sends parts from a background thread while it makes the next one: a call is timed in the
    thread that makes it, and the sum counts calls that overlapped the generation too.
    """

    def __init__(self, client: Any) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()
        self._local = threading.local()
        client.meta.events.register("before-call.s3", self._before)
        client.meta.events.register("after-call.s3", self._after)

    def _before(self, **_: Any) -> None:
        self._local.started = time.perf_counter()

    def _after(self, **_: Any) -> None:
        started = getattr(self._local, "started", None)
        if started is not None:
            self._local.started = None
            with self._lock:
                self.seconds += time.perf_counter() - started


def _timed_call(app: ModuleType, train_rows: int, name: str) -> float:
    gc.collect()
    started = time.perf_counter()
    result = app.lambda_handler(event(train_rows, name), None)
    seconds = time.perf_counter() - started
    if result["dataset"]["rows"]["train"] != train_rows:
        raise RuntimeError(f"the handler reported {result['dataset']['rows']} for {train_rows} rows")
    return seconds


def speed(sizes: Sequence[int], repetitions: dict[int, int]) -> dict[int, dict[str, Any]]:
    """Rows per second with moto and with the sink, side by side in this process, alternating."""
    results: dict[int, dict[str, Any]] = {}
    with moto_handler() as app:
        moto_client = app._s3_client()
        timer = S3Timer(moto_client)
        sink = SinkS3()
        app.lambda_handler(event(100, "warm-up"), None)  # lazy imports and caches, before any timing
        for size in sizes:
            moto_seconds, s3_seconds, sink_seconds = [], [], []
            for i in range(repetitions[size]):
                app._s3_client = lambda: moto_client
                timer.seconds = 0.0
                moto_seconds.append(_timed_call(app, size, f"moto-{size}-{i}"))
                s3_seconds.append(timer.seconds)
                app._s3_client = lambda: sink
                sink_seconds.append(_timed_call(app, size, f"sink-{size}-{i}"))
                if not any("/train/" in key and length > 0 for key, length in sink.objects.items()):
                    raise RuntimeError("the sink received no training data")
                sink.objects.clear()
            app._s3_client = lambda: moto_client
            _delete_all(moto_client)
            rows = rows_written(size)
            results[size] = {
                "rows_written": rows,
                "handler_moto_seconds": summary(moto_seconds, 3),
                "handler_moto_rows_per_second": summary([rows / s for s in moto_seconds], 0),
                "s3_seconds_inside_handler_moto": summary(s3_seconds, 3),
                "generation_only_seconds": summary(sink_seconds, 3),
                "generation_only_rows_per_second": summary([rows / s for s in sink_seconds], 0),
            }
    return results


def _delete_all(client: Any) -> None:
    """Empties the bucket between sizes, so moto's store does not grow across the runs."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])


# --- memory (in a subprocess of its own) -----------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


class _RssSampler(threading.Thread):
    """The highest resident set size seen outside the paused windows, sampled every ``interval`` s."""

    def __init__(self, interval: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = _rss_bytes()
        self.paused = threading.Event()
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.paused.is_set():
                self.peak = max(self.peak, _rss_bytes())

    def stop(self) -> None:
        self._stop.set()
        self.join()
        if not self.paused.is_set():
            self.peak = max(self.peak, _rss_bytes())


@contextmanager
def moto_server_handler() -> Iterator[ModuleType]:
    """The generate_dataset handler with its bucket, S3 served by moto's server in a process of its own."""
    import boto3
    from botocore.exceptions import EndpointConnectionError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The server logs every request on stderr: a file, not a pipe nobody reads until it fills and blocks.
    log = tempfile.TemporaryFile()  # noqa: SIM115 -- closed in the finally below
    server = subprocess.Popen(  # noqa: S603 -- our own interpreter and moto's module, fixed arguments
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=fake_aws_env(),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    endpoint = {
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
        "BUCKET_NAME": BUCKET,
        "STACK_TOKEN": JOB_NAME_PREFIX,
    }
    try:
        with fake_aws(), mock.patch.dict(os.environ, endpoint):
            client = boto3.client("s3")
            deadline = time.monotonic() + SERVER_START_SECONDS
            while True:
                try:
                    client.create_bucket(Bucket=BUCKET)
                    break
                except EndpointConnectionError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        said = log.read().decode(errors="replace")[-2000:]
                        raise RuntimeError(f"moto's server did not start: {said}") from None
                    time.sleep(0.1)
            app = load_handler("generate_dataset")
            try:
                yield app
            finally:
                unload(app)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def memory_worker(train_rows: int, traced: bool = True) -> dict[str, Any]:
    """Runs in a fresh process: the handler's memory for one size, RSS first, then tracemalloc."""
    with moto_server_handler() as app:
        app.lambda_handler(event(100, "warm-up"), None)
        gc.collect()
        sampler = _RssSampler()
        baseline = _rss_bytes()
        sampler.start()
        started = time.perf_counter()
        app.lambda_handler(event(train_rows, "memory-rss"), None)
        seconds = time.perf_counter() - started
        sampler.stop()
        figures: dict[str, Any] = {
            "train_rows": train_rows,
            "rows_written": rows_written(train_rows),
            "rss_before_mib": round(baseline / MIB, 2),
            "rss_growth_mib": round((sampler.peak - baseline) / MIB, 2),
            "process_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 2),
            "untraced_seconds": round(seconds, 3),
            "untraced_rows_per_second_moto_server": round(rows_written(train_rows) / seconds),
            "tracemalloc_peak_mib": None,
        }
        if not traced:
            return figures
        gc.collect()
        tracemalloc.start()
        try:
            traced_started = time.perf_counter()
            app.lambda_handler(event(train_rows, "memory-tracemalloc"), None)
            traced_seconds = time.perf_counter() - traced_started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    figures["tracemalloc_peak_mib"] = round(peak / MIB, 2)
    figures["traced_seconds"] = round(traced_seconds, 3)
    return figures


def _worker(args: Sequence[str]) -> Any:
    """The JSON a ``python -m bench.datagen`` worker printed last."""
    completed = subprocess.run(  # noqa: S603 -- our own interpreter and module, fixed arguments
        [sys.executable, "-m", "bench.datagen", *args],
        cwd=ROOT,
        env=fake_aws_env(),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"bench.datagen {' '.join(args)} failed: {completed.stderr.strip()[-2000:]}")
    return json.loads(lines[-1])


def speed_isolated(sizes: Sequence[int], repetitions: dict[int, int]) -> dict[int, dict[str, Any]]:
    """``speed`` in a fresh subprocess."""
    plan = json.dumps({str(size): repetitions[size] for size in sizes})
    return {int(size): figures for size, figures in _worker(["--speed-worker", plan]).items()}


def memory(
    sizes: Sequence[int], log: Callable[[str], None], traced: bool = True
) -> dict[int, dict[str, Any]]:
    results: dict[int, dict[str, Any]] = {}
    for size in sizes:
        results[size] = _worker(["--memory-worker", str(size), *(() if traced else ("--untraced",))])
        log(
            f"datagen {size:>9,} rows: RSS growth {results[size]['rss_growth_mib']} MiB, tracemalloc peak "
            f"{results[size]['tracemalloc_peak_mib']} MiB"
        )
    return results


def measure(
    sizes: Sequence[int] = SIZES,
    *,
    repetitions: dict[int, int] | None = None,
    traced: bool = True,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Speed (``repetitions`` by size), then memory (one run per size; tracemalloc too if ``traced``)."""
    started_load = load_average()
    reps = repetitions or REPETITIONS
    speeds = speed_isolated(sizes, {s: reps.get(s, 1) for s in sizes})
    for size in sizes:
        moto_rate = speeds[size]["handler_moto_rows_per_second"]["median"]
        sink_rate = speeds[size]["generation_only_rows_per_second"]["median"]
        log(f"datagen {size:>9,} rows: moto {moto_rate:,.0f} rows/s, generation only {sink_rate:,.0f} rows/s")
    memories = memory(sizes, log, traced)
    at_shard_limit = (
        memory([SHARD_LIMIT_TRAIN_ROWS], log, traced=False)[SHARD_LIMIT_TRAIN_ROWS] if traced else None
    )
    by_size = {str(size): {**speeds[size], "memory": memories[size]} for size in sizes}
    largest = str(max(sizes))
    moto_rate = by_size[largest]["handler_moto_rows_per_second"]["median"]
    sink_rate = by_size[largest]["generation_only_rows_per_second"]["median"]
    rss = [by_size[str(s)]["memory"]["rss_growth_mib"] for s in sizes]
    traced_peaks = [by_size[str(s)]["memory"]["tracemalloc_peak_mib"] for s in sizes]
    rss_by_size = dict(zip(map(str, sizes), rss, strict=True))
    if at_shard_limit is not None:
        rss_by_size[str(SHARD_LIMIT_TRAIN_ROWS)] = at_shard_limit["rss_growth_mib"]
    return {
        "description": __doc__.strip().split("\n\n", 1)[1] if __doc__ else "",
        "event": event(0, "<name>")["input"] | {"trainRows": "<size>"},
        "sizes": list(sizes),
        "repetitions": {str(s): reps.get(s, 1) for s in sizes},
        "by_size": by_size,
        "rss_at_shard_limit": at_shard_limit,
        "median": {
            f"handler_moto_rows_per_second_at_{largest}": moto_rate,
            f"generation_only_rows_per_second_at_{largest}": sink_rate,
            "rss_growth_mib_by_size": rss_by_size,
            "tracemalloc_peak_mib_by_size": dict(zip(map(str, sizes), traced_peaks, strict=True)),
        },
        "target": {
            "rows_per_second_at_least": TARGET_ROWS_PER_SECOND,
            "memory": "flat as rows grow: tracemalloc's peak, what the handler holds (not with --quick)",
        },
        "meets_target": {
            "handler_moto_rows_per_second": moto_rate >= TARGET_ROWS_PER_SECOND,
            "generation_only_rows_per_second": sink_rate >= TARGET_ROWS_PER_SECOND,
            "memory_flat": _flat(traced_peaks),
        },
        "machine": machine(started_load),
    }


def _flat(peaks: Sequence[float | None]) -> bool | None:
    """The largest size's peak is within one part of the next largest size's (None if not measured)."""
    measured = [p for p in peaks if p is not None]
    if len(measured) < 2:
        return None
    return measured[-1] - measured[-2] <= FLAT_TOLERANCE_MIB


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.datagen")
    worker = parser.add_mutually_exclusive_group(required=True)
    worker.add_argument("--memory-worker", type=int, metavar="ROWS", help="memory figures for one size")
    worker.add_argument(
        "--speed-worker", metavar="JSON", help='speed figures: {"<rows>": <repetitions>, ...}'
    )
    parser.add_argument("--untraced", action="store_true", help="resident set size only, no tracemalloc")
    args = parser.parse_args(argv)
    if args.speed_worker:
        plan = {int(size): int(reps) for size, reps in json.loads(args.speed_worker).items()}
        print(json.dumps(speed(list(plan), plan)))
    else:
        print(json.dumps(memory_worker(args.memory_worker, traced=not args.untraced)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
