"""Waiting for what an execution leaves running (see ``LambdaRuntime.handlers_running``): its Lambda handlers
and moto's state machine threads."""

from __future__ import annotations

import threading
import time

from offline import moto_patches
from offline.lambda_runtime import LambdaRuntime

POLL_SECONDS = 0.05


def wait_until_idle(lambdas: LambdaRuntime, thread_mark: int, timeout: float) -> bool:
    """Waits until no handler runs and the state machine threads started since ``thread_mark`` (an index
    into moto's list of them) have ended; False if that is not so after ``timeout`` seconds.

    Handlers alone are not enough: a Map's worker can be between its last check of the execution and its
    Lambda call, with no handler running yet.
    """
    deadline = time.monotonic() + timeout
    while True:
        pending = [
            t
            for t in moto_patches.asl_threads()[thread_mark:]
            if t.is_alive() and t is not threading.current_thread()
        ]
        with lambdas.handlers_idle:
            if not pending and lambdas.handlers_running == 0:
                return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if pending:
            pending[0].join(min(left, POLL_SECONDS))
        else:
            with lambdas.handlers_idle:
                lambdas.handlers_idle.wait_for(lambda: lambdas.handlers_running == 0, min(left, POLL_SECONDS))


def still_running(lambdas: LambdaRuntime, thread_mark: int) -> str:
    """What runs now, in words, counting the state machine threads started since ``thread_mark``."""
    threads = sum(t.is_alive() for t in moto_patches.asl_threads()[thread_mark:])
    return f"{lambdas.handlers_running} Lambda handler(s) and {threads} state machine thread(s)"
