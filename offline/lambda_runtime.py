"""Lambda, offline: the template's functions in moto's Lambda, their real handlers run in this process.

A handler runs with the environment the Lambda runtime and the template give the function, and a context
object with the attributes handlers read. An exception reaches the caller as the Python runtime reports
it: the error payload (``errorMessage``, ``errorType``, ``stackTrace``) with ``FunctionError: Unhandled``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time
import traceback
import types
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from functions import loader
from offline.errors import OfflineRunError
from offline.template import Stack


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_seconds: int
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class LambdaFunction:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    memory_mb: int
    timeout_seconds: int
    module: types.ModuleType | None = None
    invocations: int = 0


@dataclass
class LambdaFault:
    code: str
    message: str
    status: int
    remaining: int


_LAMBDA_FAULT_STATUS = {
    "ServiceException": 500,
    "AWSLambdaException": 500,
    "TooManyRequestsException": 429,
    "ResourceNotReadyException": 502,
    "EC2ThrottledException": 502,
}


def runtime_error(
    message: str, error_type: str, request_id: str, stack_trace: list[str] | None = None
) -> tuple[bytes, bool]:
    """The Python runtime's error payload (an unhandled exception or its own failure), and ``errored``."""
    body = {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack_trace or [],
    }
    return json.dumps(body).encode(), True


def zip_directory(directory: Path) -> bytes:
    if not directory.is_dir():
        raise OfflineRunError(f"function code directory {directory} does not exist")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


# The services whose clients the handlers keep for the execution environment, from ``_<service>_client()``.
_HANDLER_CLIENTS = ("s3", "sagemaker")


def _is_client_of(value: Any, service: str) -> bool:
    from botocore.client import BaseClient

    return isinstance(value, BaseClient) and value.meta.service_model.service_name == service


class LambdaRuntime:
    """The functions of the stack, their handlers, the faults injected into them, the handlers running."""

    def __init__(self, stack: Stack, exit_stack: contextlib.ExitStack) -> None:
        self.stack = stack
        self._exit = exit_stack
        self.functions: dict[str, LambdaFunction] = {}
        self._faults: dict[str, list[LambdaFault]] = {}
        self._env_lock = threading.RLock()
        # Handlers running now, in any thread. A Map whose iteration failed ends its execution while other
        # iterations' handlers still run (as on AWS): the engine waits for them before it reports a run or
        # takes the fake AWS environment down, so none of their calls can leave it.
        self.handlers_running = 0
        self.handlers_idle = threading.Condition()
        self.closing = False

    def create_handler_clients(self, route_sagemaker: Callable[[Any], None]) -> None:
        """Creates the clients each handler keeps (``_s3_client()``, ``_sagemaker_client()``), which it
        would create at its first invocation, and hands every SageMaker one to ``route_sagemaker``: a client
        created inside a handler call could not be routed, and tests can reach a handler's clients first."""
        for function in self.functions.values():
            with self.function_environment(function):
                for service in _HANDLER_CLIENTS:
                    getter = getattr(function.module, f"_{service}_client", None)
                    client = getter() if callable(getter) else None
                    if _is_client_of(client, "sagemaker"):
                        route_sagemaker(client)

    def longest_timeout(self) -> int:
        return max((f.timeout_seconds for f in self.functions.values()), default=0)

    def create_functions(
        self, template: Mapping[str, Any], template_dir: Path, function_code: Mapping[str, Path], client: Any
    ) -> None:
        """Creates the template's functions in moto's Lambda and loads each one's handler module."""
        globals_ = ((template.get("Globals") or {}).get("Function")) or {}
        for logical_id, resource in self.stack.resources.items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            props = {**globals_, **(resource.get("Properties") or {})}
            environment = {
                **(((globals_.get("Environment") or {}).get("Variables")) or {}),
                **((((resource.get("Properties") or {}).get("Environment") or {}).get("Variables")) or {}),
            }
            environment = {str(k): str(self.stack.resolve(v)) for k, v in environment.items()}
            code_dir = function_code.get(logical_id) or (template_dir / str(props["CodeUri"]))
            function = LambdaFunction(
                logical_id=logical_id,
                name=self.stack.physical_name(logical_id),
                arn=self.stack.get_att(logical_id, "Arn"),
                code_dir=Path(code_dir),
                handler=str(props.get("Handler", "app.lambda_handler")),
                environment=environment,
                memory_mb=int(props.get("MemorySize", 128)),
                timeout_seconds=int(props.get("Timeout", 3)),
            )
            created = client.create_function(
                FunctionName=function.name,
                Runtime=str(props.get("Runtime", "python3.13")),
                Role=self.stack.get_att(f"{logical_id}Role", "Arn"),
                Handler=function.handler,
                Code={"ZipFile": zip_directory(function.code_dir)},
                Environment={"Variables": environment},
                MemorySize=function.memory_mb,
                Timeout=function.timeout_seconds,
                Architectures=[str(self.stack.resolve(a)) for a in props.get("Architectures", ["x86_64"])],
            )
            if created["FunctionArn"] != function.arn:
                raise OfflineRunError(
                    f"moto named {logical_id} {created['FunctionArn']}, expected {function.arn}"
                )
            function.module = self._load_handler(function)
            self.functions[function.name] = function

    def _lambda_environment(self, function: LambdaFunction) -> dict[str, str]:
        """The environment the Lambda runtime gives the function, and the template's variables."""
        return {
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_REGION": self.stack.region,
            "AWS_DEFAULT_REGION": self.stack.region,
            **function.environment,
        }

    @contextlib.contextmanager
    def function_environment(self, function: LambdaFunction) -> Iterator[None]:
        with self._env_lock, mock.patch.dict(os.environ, self._lambda_environment(function)):
            yield

    def _load_handler(self, function: LambdaFunction) -> types.ModuleType:
        """The handler module, loaded as the Lambda runtime loads it (functions.loader)."""
        try:
            with self.function_environment(function):
                module = loader.load_handler(function.code_dir, function.handler)
        except loader.HandlerNotFound as e:
            raise OfflineRunError(f"{function.logical_id}: {e}") from e
        self._exit.callback(loader.unload, module)
        return module

    def inject_fault(
        self, function: str, code: str = "ServiceException", message: str | None = None, times: int = 1
    ) -> None:
        """The next ``times`` invocations of ``function`` (logical id or name) fail with a service error.

        The state machine sees ``Lambda.<code>``, as when the Lambda service itself fails the Invoke call.
        """
        target = self.function(function)
        status = _LAMBDA_FAULT_STATUS.get(code, 500)
        text = message or f"injected {code} (offline fault)"
        self._faults.setdefault(target.name, []).append(LambdaFault(code, text, status, times))

    def function(self, function: str) -> LambdaFunction:
        for candidate in self.functions.values():
            if function in (candidate.logical_id, candidate.name, candidate.arn):
                return candidate
        known = ", ".join(f.logical_id for f in self.functions.values())
        raise KeyError(f"no function {function!r}; the template has {known}")

    def next_fault(self, function: LambdaFunction) -> LambdaFault | None:
        queue = self._faults.get(function.name) or []
        while queue and queue[0].remaining <= 0:
            queue.pop(0)
        if not queue:
            return None
        queue[0].remaining -= 1
        return queue[0]

    def invoke_handler(self, function: LambdaFunction, payload: bytes) -> tuple[bytes, bool]:
        """Runs the handler on a payload as the Lambda runtime does; returns (response bytes, errored)."""
        request_id = str(uuid.uuid4())
        function.invocations += 1
        context = LambdaContext(
            function_name=function.name,
            memory_limit_in_mb=function.memory_mb,
            invoked_function_arn=function.arn,
            aws_request_id=request_id,
            timeout_seconds=function.timeout_seconds,
            log_group_name=f"/aws/lambda/{function.name}",
            _deadline=time.monotonic() + function.timeout_seconds,
        )
        try:
            event = json.loads(payload.decode("utf-8")) if payload else {}
        except ValueError as e:
            return runtime_error(f"Unable to unmarshal input: {e}", "Runtime.UnmarshalError", request_id)
        handler_name = function.handler.rpartition(".")[2]
        handler = getattr(function.module, handler_name, None)
        if handler is None:
            message = f"Handler '{handler_name}' missing on module"
            return runtime_error(message, "Runtime.HandlerNotFound", request_id)
        with self.handlers_idle:
            if self.closing:
                message = "the offline engine is closing: the execution has ended"
                return runtime_error(message, "Offline.EngineClosed", request_id)
            self.handlers_running += 1
        try:
            with self.function_environment(function):
                result = handler(event, context)
        except Exception as e:
            # The first frame is the runtime's call of the handler, which AWS leaves out too.
            frames = traceback.format_list(traceback.extract_tb(e.__traceback__)[1:])
            return runtime_error(str(e), type(e).__name__, request_id, frames)
        finally:
            with self.handlers_idle:
                self.handlers_running -= 1
                self.handlers_idle.notify_all()
        try:
            return json.dumps(result).encode(), False
        except (TypeError, ValueError) as e:
            return runtime_error(f"Unable to marshal response: {e}", "Runtime.MarshalError", request_id)
