"""Runs the real state machine definition end to end in this process, on moto's Step Functions engine.

What runs, and where:

- The definition is ``statemachine/tuning.asl.json`` with the template's ``DefinitionSubstitutions`` applied
  (parameters at their defaults unless overridden, ARNs of the resources created here, the XGBoost image
  from the template's mapping for the region), all resolved by ``offline.template.Stack``. It is checked
  with statelint, then executed by moto's Step Functions engine (LocalStack's ASL interpreter) in a
  background thread.
- Lambda: the template's three functions are created in moto's Lambda (``use_docker: False``), and
  ``LambdaSimpleBackend.invoke`` is patched to run the real handler from ``functions/<dir>/app.py`` in
  process, with the environment the template gives the function. A handler exception reaches the state
  machine as on AWS: ``FunctionError: Unhandled`` and the runtime's error payload, so the error name is the
  exception class name and the cause the JSON payload.
- SageMaker: moto has no SageMaker integration that trains anything, so ``sagemaker:*`` task states are
  routed to ``offline.sagemaker_emulator.LocalSageMaker`` (see ``SageMakerTask``), and the handlers' own
  ``sagemaker`` clients are short-circuited to the same emulator by a ``before-call`` hook, the mechanism
  botocore's Stubber uses (see ``route_client_to_emulator``). Patching moto's SageMaker backend instead
  would mean re-implementing its response serialisation for every operation; the hook hands the emulator's
  boto-style response straight to the caller.
- S3 is moto's: the handlers, the emulator and the caller all see the same bucket.

Four behaviours of the engine are adjusted to match AWS (each patch is scoped to the engine's lifetime):

- ``States.ALL`` does not match ``States.Runtime`` or ``States.DataLimitExceeded`` (LocalStack's matcher
  does): on AWS a JSONPath that resolves to nothing fails the execution, whatever the Catch says.
- The sleep between retries is scaled (``retry_sleep_scale``), not removed: the engine still computes
  each interval with the state's backoff, cap and jitter, and the order of events is unchanged. Every
  requested interval is recorded in ``Engine.retry_sleeps``.
- The SageMaker task maps errors as Step Functions does (see ``SageMakerTask``).
- A Fail state whose ErrorPath reads a ``States.*`` name (a caught ``States.TaskFailed``) fails the
  execution with that name, where LocalStack's Fail state raised a Python error.

Two costs are cut without changing what runs: moto's ANTLR parse of the definition (about 0.2 s, done on
create and again for every execution) is kept per definition text, and every client of the run comes from
one boto3 session kept for the process, so botocore reads each service model once.

Observing and disturbing a run: ``Engine.run(on_event=...)`` receives each history event as the engine
writes it (``EventManager._publish_history_event`` is wrapped), so progress is in order and immediate;
``Engine.inject_lambda_fault`` makes the next invocations of a function fail as the Lambda service
(``Lambda.ServiceException``, ``Lambda.TooManyRequestsException``...) so the Retry runs; the emulator
has its own hooks (``engine.sagemaker.inject_fault``, ``fail_training_jobs_when``, ``fail_transform_job``).
``Engine.sagemaker_requests`` keeps every request a SageMaker task state handed the emulator, as the
engine evaluated it (paths filled, intrinsics applied), with the state and the execution that sent it.

Only one engine can be active in a process at a time: the patches are process-wide.

The parts live in their own modules: ``offline.definition`` (the definition checks),
``offline.sagemaker_task`` (the SageMaker task state and the handlers' SageMaker clients),
``offline.lambda_runtime`` (the functions and their handlers), ``offline.moto_patches`` (the patches above),
``offline.stack_resources`` (the template's resources in moto), ``offline.drain`` (the wait for what a run
leaves running).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

from offline import moto_patches, stack_resources
from offline.definition import (
    SAGEMAKER_ACTIONS,
    SAGEMAKER_SYNC_ACTIONS,
    validate_definition,
)
from offline.definition import walk_states as _walk_states
from offline.drain import POLL_SECONDS, still_running, wait_until_idle
from offline.errors import DefinitionError, OfflineRunError
from offline.lambda_runtime import (
    LambdaContext,
    LambdaFault,
    LambdaFunction,
    LambdaRuntime,
)
from offline.run_result import RunResult
from offline.sagemaker_task import (
    SageMakerRequest,
    json_safe,
    route_client_to_emulator,
    sagemaker_error_cause,
    sagemaker_error_name,
    sagemaker_task_class,
    sdk_task_class,
)
from offline.stack_resources import FAKE_AWS_ENV
from offline.template import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    DEFINITION_FILE,
    TEMPLATE_FILE,
    Stack,
    SubstitutionError,
    TemplateError,
    load_template,
)

# The names other code imports from here, wherever they are defined now.
__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_REGION",
    "DEFAULT_STACK_NAME",
    "DEFINITION_FILE",
    "SAGEMAKER_ACTIONS",
    "SAGEMAKER_SYNC_ACTIONS",
    "TEMPLATE_FILE",
    "DefinitionError",
    "Engine",
    "LambdaContext",
    "LambdaFault",
    "LambdaFunction",
    "OfflineRunError",
    "RunResult",
    "SageMakerRequest",
    "_walk_states",
    "json_safe",
    "route_client_to_emulator",
    "sagemaker_error_cause",
    "sagemaker_error_name",
    "validate_definition",
]

# 1 s of a retry interval in the definition becomes 10 ms offline.
DEFAULT_RETRY_SLEEP_SCALE = 0.01
# Seconds beyond the longest function timeout that the engine waits for handlers still running.
HANDLER_DRAIN_MARGIN = 10.0
_EXECUTION_END_EVENTS = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}

logger = logging.getLogger(__name__)

_ACTIVE_LOCK = threading.Lock()
_active_engine: Engine | None = None
# Why the last engine could not close (it keeps the lock and its fake AWS environment), or None.
_stuck_engine: str | None = None


def _emulator() -> Any:
    engine = _active_engine
    if engine is None or engine.sagemaker is None:
        raise RuntimeError("no offline engine is running: SageMaker tasks need one")
    return engine.sagemaker


def _record_sagemaker_request(request: SageMakerRequest) -> None:
    engine = _active_engine
    if engine is not None:
        engine.sagemaker_requests.append(request)


class Engine:
    """The template's stack in moto, the definition on moto's engine, the emulator behind SageMaker.

    Use as a context manager; ``run()`` may be called several times inside it.
    """

    def __init__(
        self,
        *,
        parameters: Mapping[str, Any] | None = None,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        stack_name: str = DEFAULT_STACK_NAME,
        template_path: Path = TEMPLATE_FILE,
        definition_path: Path = DEFINITION_FILE,
        function_code: Mapping[str, Path] | None = None,
        retry_sleep_scale: float = DEFAULT_RETRY_SLEEP_SCALE,
        sagemaker_listener: Callable[[str, dict[str, Any]], None] | None = None,
        sagemaker_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.template_path = Path(template_path)
        self.definition_path = Path(definition_path)
        try:
            self.template = load_template(self.template_path)
            self.stack = Stack(self.template, region, parameters, account_id=account_id, name=stack_name)
            self.substitutions = self.stack.definition_substitutions()
            self.definition_text = self.stack.definition_text(self.definition_path)
        except SubstitutionError as e:
            raise DefinitionError(str(e)) from e
        except TemplateError as e:
            raise OfflineRunError(str(e)) from e
        self.definition = validate_definition(self.definition_text, str(self.definition_path))
        self.function_code = {k: Path(v) for k, v in (function_code or {}).items()}
        self.retry_sleep_scale = retry_sleep_scale
        self.retry_sleeps: list[float] = []
        self.sagemaker_requests: list[SageMakerRequest] = []
        self.sagemaker_listener = sagemaker_listener
        self.sagemaker_factory = sagemaker_factory
        self.sagemaker: Any = None
        self._exit = contextlib.ExitStack()
        self.lambdas = LambdaRuntime(self.stack, self._exit)
        self.bucket = self.stack.ref(stack_resources.bucket_logical_id(self.stack))
        self.state_machine_arn = ""
        self._on_event: Callable[[dict[str, Any]], None] | None = None
        self._execution_ended = threading.Event()
        self._asl_thread_mark = 0

    @property
    def functions(self) -> dict[str, LambdaFunction]:
        """The template's functions by physical name."""
        return self.lambdas.functions

    # -- set-up ------------------------------------------------------------------------------------------

    def __enter__(self) -> Engine:
        global _active_engine
        if not _ACTIVE_LOCK.acquire(blocking=False):
            raise OfflineRunError(_stuck_engine or "another offline engine is running in this process")
        self._asl_thread_mark = len(moto_patches.asl_threads())
        try:
            self._start()
        except BaseException as e:
            self._exit.close()
            _ACTIVE_LOCK.release()
            if isinstance(e, TemplateError):
                raise OfflineRunError(str(e)) from e
            raise
        _active_engine = self
        return self

    def __exit__(self, *exc: Any) -> None:
        global _active_engine, _stuck_engine
        with self.lambdas.handlers_idle:
            self.lambdas.closing = True  # no handler starts any more
        seconds = self._handler_drain_seconds()
        if not wait_until_idle(self.lambdas, self._asl_thread_mark, seconds):
            # Leaving the mock now would let their AWS calls go to whatever account the machine's own
            # credentials reach: the fake AWS environment and the engine's lock stay, and say why.
            _stuck_engine = (
                "an earlier offline engine could not close: "
                f"{still_running(self.lambdas, self._asl_thread_mark)} still running "
                f"{seconds:g} s after its end, so its fake AWS environment stays in place in this process"
            )
            raise OfflineRunError(_stuck_engine)
        _stuck_engine = None
        try:
            self._exit.close()
        finally:
            _active_engine = None
            _ACTIVE_LOCK.release()

    def _handler_drain_seconds(self) -> float:
        """The longest function timeout in the template, and a margin: no handler should run longer."""
        return self.lambdas.longest_timeout() + HANDLER_DRAIN_MARGIN

    def _start(self) -> None:
        from moto import mock_aws

        env = {**FAKE_AWS_ENV, "AWS_DEFAULT_REGION": self.stack.region, "AWS_REGION": self.stack.region}
        self._exit.enter_context(mock.patch.dict(os.environ, env))
        for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            os.environ.pop(key, None)
        self._exit.enter_context(
            mock_aws(
                config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
            )
        )
        # Every client of the run (the engine's, the emulator's, the handlers' module-level ones) comes
        # from one boto3 session kept for the process, so botocore reads each service model once, not once
        # per engine (mock_aws would give each engine a fresh default session). It only ever sees this
        # fake environment.
        import boto3

        self._exit.enter_context(mock.patch.object(boto3, "DEFAULT_SESSION", moto_patches.offline_session()))

        # The engine, adjusted (see the module docstring).
        moto_patches.install(
            self._exit,
            sagemaker_task=sagemaker_task_class(_emulator, _record_sagemaker_request),
            sdk_task=sdk_task_class(_emulator, _record_sagemaker_request),
            retry_sleep=self._retry_sleep,
            lambdas=self.lambdas,
            on_history_event=self._live_event,
        )

        region = self.stack.region
        self.s3 = boto3.client("s3", region_name=region)
        # moto reads the region, and so the partition, from the endpoint's host name. IAM's endpoint in
        # GovCloud (iam.us-gov.amazonaws.com) names no region, so its roles would get arn:aws: ARNs that
        # moto's Lambda then refuses; a regional host keeps every partition's roles in their partition.
        self.iam = boto3.client(
            "iam", region_name=region, endpoint_url=f"https://iam.{region}.{self.stack.url_suffix}"
        )
        self.lambda_client = boto3.client("lambda", region_name=region)
        self.sfn = boto3.client("stepfunctions", region_name=region)

        stack_resources.create_bucket(self.s3, self.bucket, region)
        stack_resources.create_roles(self.stack, self.iam)
        stack_resources.create_model_package_groups(self.stack)
        self.lambdas.create_functions(
            self.template, self.template_path.parent, self.function_code, self.lambda_client
        )
        self.sagemaker = self._make_emulator()
        # The handlers' SageMaker clients reach the emulator, not moto's SageMaker (which trains nothing).
        self.lambdas.create_handler_clients(lambda client: route_client_to_emulator(client, self.sagemaker))
        self.state_machine_arn = stack_resources.create_state_machine(
            self.stack, self.sfn, self.definition_text
        )

    def _make_emulator(self) -> Any:
        factory = self.sagemaker_factory
        if factory is None:
            from offline.sagemaker_emulator import LocalSageMaker

            factory = LocalSageMaker
        import boto3

        return factory(
            boto3.client("s3", region_name=self.stack.region),
            region=self.stack.region,
            account_id=self.stack.account_id,
            listener=self.sagemaker_listener,
        )

    # -- faults ------------------------------------------------------------------------------------------

    def inject_lambda_fault(
        self, function: str, code: str = "ServiceException", message: str | None = None, times: int = 1
    ) -> None:
        """The next ``times`` invocations of ``function`` (logical id or name) fail with a service error.

        The state machine sees ``Lambda.<code>``, as when the Lambda service itself fails the Invoke call.
        """
        self.lambdas.inject_fault(function, code, message, times)

    def _retry_sleep(self, seconds: float) -> None:
        self.retry_sleeps.append(seconds)
        time.sleep(seconds * self.retry_sleep_scale)

    # -- running -----------------------------------------------------------------------------------------

    def run(
        self,
        execution_input: Any = None,
        *,
        name: str | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        timeout_seconds: float = 3600.0,
    ) -> RunResult:
        """Starts an execution (named like a console-started one by default) and waits for its end.

        ``on_event`` sees every history event as the engine writes it, in the execution's thread.
        """
        name = name or str(uuid.uuid4())
        input_value = {} if execution_input is None else execution_input
        started = time.monotonic()
        self._on_event = on_event
        self._execution_ended.clear()
        thread_mark = len(moto_patches.asl_threads())
        try:
            execution_arn = self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(input_value)
            )["executionArn"]
            while True:
                description = self.sfn.describe_execution(executionArn=execution_arn)
                if description["status"] != "RUNNING":
                    break
                if time.monotonic() - started > timeout_seconds:
                    self.sfn.stop_execution(
                        executionArn=execution_arn,
                        error="Offline.Timeout",
                        cause=f"the offline run took longer than {timeout_seconds:g} s",
                    )
                    raise OfflineRunError(f"execution {name} did not finish within {timeout_seconds:g} s")
                # The execution's last history event ends the wait at once; its status follows a moment later.
                if self._execution_ended.wait(POLL_SECONDS):
                    time.sleep(0.001)
        finally:
            self._on_event = None
        # Handlers the execution left running (a failed Map's other iterations) finish first: what the run
        # wrote is then all in S3 when its result is read.
        left = max(timeout_seconds - (time.monotonic() - started), 0.0) + HANDLER_DRAIN_MARGIN
        if not wait_until_idle(self.lambdas, thread_mark, min(self._handler_drain_seconds(), left)):
            raise OfflineRunError(
                f"execution {name} ended, but {still_running(self.lambdas, thread_mark)} it started are "
                "still running"
            )
        output = description.get("output")
        return RunResult(
            execution_arn=execution_arn,
            name=name,
            status=description["status"],
            input=input_value,
            output=json.loads(output) if output is not None else None,
            error=description.get("error"),
            cause=description.get("cause"),
            history=self._history(execution_arn),
            wall_seconds=time.monotonic() - started,
        )

    def _live_event(self, event: dict[str, Any]) -> None:
        if event["type"] in _EXECUTION_END_EVENTS:
            self._execution_ended.set()
        callback = self._on_event
        if callback is None:
            return
        try:
            callback(event)
        except Exception:  # a progress printer must never break the execution
            logger.exception("the history event callback failed")

    def _history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    # -- reading results ---------------------------------------------------------------------------------

    def read_s3(self, uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def list_s3(self, uri: str) -> list[str]:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return [f"s3://{bucket}/{key}" for key in keys]
