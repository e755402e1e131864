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
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import io
import json
import logging
import os
import re
import threading
import time
import traceback
import types
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from functions import loader
from offline.request_validation import operation_model
from offline.template import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    DEFINITION_FILE,
    STATE_MACHINE_LOGICAL_ID,
    TEMPLATE_FILE,
    Stack,
    SubstitutionError,
    TemplateError,
    load_template,
)

# 1 s of a retry interval in the definition becomes 10 ms offline.
DEFAULT_RETRY_SLEEP_SCALE = 0.01
POLL_SECONDS = 0.05
# Seconds beyond the longest function timeout that the engine waits for handlers still running.
HANDLER_DRAIN_MARGIN = 10.0
_EXECUTION_END_EVENTS = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}

logger = logging.getLogger(__name__)

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    # No profile or config file of the machine may point a client at a real account.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


class OfflineRunError(RuntimeError):
    """The offline run could not be set up (template, substitutions, definition); the message says where."""


class DefinitionError(OfflineRunError):
    """The substituted definition is not one Step Functions would accept."""


# --------------------------------------------------------------------------------------------------------
# Validating the definition before it runs
# --------------------------------------------------------------------------------------------------------

# Step Functions' optimized SageMaker integration: the actions it accepts and those it can wait for.
SAGEMAKER_ACTIONS = {
    "createEndpoint",
    "createEndpointConfig",
    "createHyperParameterTuningJob",
    "createLabelingJob",
    "createModel",
    "createProcessingJob",
    "createTrainingJob",
    "createTransformJob",
    "updateEndpoint",
}
# action -> (Describe operation, name key, status key)
SAGEMAKER_SYNC_ACTIONS: dict[str, tuple[str, str, str]] = {
    "createHyperParameterTuningJob": (
        "DescribeHyperParameterTuningJob",
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobStatus",
    ),
    "createLabelingJob": ("DescribeLabelingJob", "LabelingJobName", "LabelingJobStatus"),
    "createProcessingJob": ("DescribeProcessingJob", "ProcessingJobName", "ProcessingJobStatus"),
    "createTrainingJob": ("DescribeTrainingJob", "TrainingJobName", "TrainingJobStatus"),
    "createTransformJob": ("DescribeTransformJob", "TransformJobName", "TransformJobStatus"),
}
_SAGEMAKER_RESOURCE = re.compile(r"arn:[a-z-]+:states:::sagemaker:(?P<action>[A-Za-z]+)(\.(?P<pattern>.+))?")


def _walk_states(
    states: Mapping[str, Any], path: str = "/States"
) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    for name, state in states.items():
        yield name, f"{path}/{name}", state
        for branch_index, branch in enumerate(state.get("Branches") or []):
            yield from _walk_states(
                branch.get("States") or {}, f"{path}/{name}/Branches[{branch_index}]/States"
            )
        for key in ("Iterator", "ItemProcessor"):
            if isinstance(state.get(key), Mapping):
                yield from _walk_states(state[key].get("States") or {}, f"{path}/{name}/{key}/States")


def validate_definition(definition_text: str, source: str = "definition") -> dict[str, Any]:
    """statelint's checks, then the ones Step Functions adds for SageMaker tasks; raises DefinitionError."""
    from statelint.config import Config
    from statelint.linter import Linter

    problems = Linter.validate(definition_text, Config())
    if problems:
        raise DefinitionError(
            f"{source} fails statelint ({len(problems)} problem(s)):\n"
            + "\n".join(f"  {p}" for p in problems)
        )
    definition = json.loads(definition_text)
    for name, where, state in _walk_states(definition.get("States") or {}):
        match = _SAGEMAKER_RESOURCE.fullmatch(str(state.get("Resource", "")))
        if state.get("Type") != "Task" or not match:
            continue
        action, pattern = match["action"], match["pattern"]
        resource = state["Resource"]
        if action not in SAGEMAKER_ACTIONS or (
            pattern and (pattern != "sync" or action not in SAGEMAKER_SYNC_ACTIONS)
        ):
            raise DefinitionError(
                f"{source}: state '{name}': the resource provided {resource} is not recognized. The value is "
                "not a valid resource ARN, or the resource is not available in this region."
            )
        members = operation_model(action[0].upper() + action[1:]).input_shape.members
        for key in state.get("Parameters") or {}:
            field_name = key.removesuffix(".$")
            if field_name not in members:
                raise DefinitionError(
                    f'{source}: SCHEMA_VALIDATION_FAILED: The field "{field_name}" is not supported by '
                    f"Step Functions at {where}/Parameters"
                )
    return definition


# --------------------------------------------------------------------------------------------------------
# JSON as Step Functions returns SDK responses
# --------------------------------------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """An SDK response as Step Functions passes it on: epoch-millisecond timestamps, no ResponseMetadata."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return round(moment.timestamp() * 1000)
    if isinstance(value, datetime.date):
        return round(
            datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC).timestamp() * 1000
        )
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


# --------------------------------------------------------------------------------------------------------
# SageMaker: errors as Step Functions names them, the task state, the handlers' clients
# --------------------------------------------------------------------------------------------------------


def sagemaker_error_name(operation_name: str, code: str) -> str:
    """``SageMaker.<exception>`` as Step Functions reports a SageMaker API error.

    Step Functions names the error after the AWS SDK for Java's exception class: the operation's modelled
    errors keep their shape name with ``Exception`` appended (``ResourceLimitExceeded`` ->
    ``SageMaker.ResourceLimitExceededException``); every other code (ValidationException,
    ThrottlingException...) is the service's generic ``SageMaker.AmazonSageMakerException``.
    """
    try:
        modelled = {shape.name for shape in operation_model(operation_name).error_shapes}
    except Exception:
        modelled = set()
    if code in modelled:
        return f"SageMaker.{code if code.endswith('Exception') else code + 'Exception'}"
    return "SageMaker.AmazonSageMakerException"


def sagemaker_error_cause(error: Any) -> str:
    """The cause text of a SageMaker API error: the message and the Java SDK's details."""
    response = getattr(error, "response", None) or {}
    info = response.get("Error") or {}
    metadata = response.get("ResponseMetadata") or {}
    details = "; ".join(
        [
            "Service: AmazonSageMaker",
            f"Status Code: {metadata.get('HTTPStatusCode', 400)}",
            f"Error Code: {info.get('Code', 'Unknown')}",
            f"Request ID: {metadata.get('RequestId') or uuid.uuid4()}",
            "Proxy: null",
        ]
    )
    return f"{info.get('Message', str(error))} ({details})"


_ACTIVE_LOCK = threading.Lock()
_active_engine: Engine | None = None
# Why the last engine could not close (it keeps the lock and its fake AWS environment), or None.
_stuck_engine: str | None = None


def _asl_threads() -> list[threading.Thread]:
    """moto's list of every thread its state machine interpreter started (executions, Map workers, tasks)."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    return TMP_THREADS


def _emulator() -> Any:
    engine = _active_engine
    if engine is None or engine.sagemaker is None:
        raise RuntimeError("no offline engine is running: SageMaker tasks need one")
    return engine.sagemaker


@dataclass(frozen=True)
class SageMakerRequest:
    """A request a SageMaker task state handed the emulator (Create*, not the .sync polling)."""

    execution_arn: str
    state: str
    resource: str
    operation: str
    parameters: dict[str, Any]


def _record_sagemaker_request(request: SageMakerRequest) -> None:
    engine = _active_engine
    if engine is not None:
        engine.sagemaker_requests.append(request)


def _sagemaker_task_class() -> type:
    """The task state class for ``arn:aws:states:::sagemaker:*``, built on moto's parser classes."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_unsupported,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        ResourceCondition,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    class SageMakerTask(state_task_service_unsupported.StateTaskServiceUnsupported):
        """Step Functions' optimized SageMaker integration, served by the offline emulator.

        - The request is the state's Parameters after the engine evaluated paths and intrinsics.
        - Request-response: the Create* response (``{"ModelArn": ...}``), made JSON-safe.
        - ``.sync``: the emulator's Create* returns when the job has finished; the result is the Describe*
          response, JSON-safe (timestamps in epoch milliseconds). A job that ends Failed or Stopped fails
          the task with ``States.TaskFailed`` and the Describe* response as the cause.
        - A Create* error fails the task with ``SageMaker.<exception>`` (see ``sagemaker_error_name``).
        """

        def __init__(self) -> None:
            super().__init__()
            # The parent accepts only waitForTaskToken (and keeps it for its task-token bookkeeping).
            self._supported_integration_patterns = {
                ResourceCondition.WaitForTaskToken,
                ResourceCondition.Sync,
            }

        def _validate_service_integration_is_supported(self) -> None:
            action, condition = self.resource.api_action, self.resource.condition
            if action not in SAGEMAKER_ACTIONS or (
                condition is not None
                and (condition != ResourceCondition.Sync or action not in SAGEMAKER_SYNC_ACTIONS)
            ):
                raise ValueError(
                    f"The resource provided {self.resource.resource_arn} not recognized. The value is not a "
                    "valid resource ARN, or the resource is not available in this region."
                )

        def _operation_name(self) -> str:
            action = self.resource.api_action
            return action[0].upper() + action[1:]

        def _from_error(self, env: Any, ex: Exception) -> Any:
            if isinstance(ex, ClientError):
                code = (ex.response.get("Error") or {}).get("Code", "")
                error = sagemaker_error_name(self._operation_name(), code)
                return FailureEvent(
                    env=env,
                    error_name=CustomErrorName(error),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(
                        taskFailedEventDetails=TaskFailedEventDetails(
                            error=error,
                            cause=sagemaker_error_cause(ex),
                            resource=self._get_sfn_resource(),
                            resourceType=self._get_sfn_resource_type(),
                        )
                    ),
                )
            return super()._from_error(env=env, ex=ex)

        def _eval_service_task(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
        ) -> None:
            context = env.states.context_object.context_object_data
            _record_sagemaker_request(
                SageMakerRequest(
                    execution_arn=context["Execution"]["Id"],
                    state=context["State"]["Name"],
                    resource=self.resource.resource_arn,
                    operation=self._operation_name(),
                    parameters=copy.deepcopy(normalised_parameters),
                )
            )
            response = _emulator().call(self._operation_name(), copy.deepcopy(normalised_parameters))
            env.stack.append(json_safe(response or {}))

        def _build_sync_resolver(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
        ) -> Callable[[], Any]:
            env.stack.pop()  # the Create* response
            describe, name_key, status_key = SAGEMAKER_SYNC_ACTIONS[self.resource.api_action]
            job_name = normalised_parameters.get(name_key)

            def resolve() -> dict[str, Any] | None:
                description = json_safe(_emulator().call(describe, {name_key: job_name}))
                status = description.get(status_key)
                if status == "Completed":
                    return description
                if status in ("Failed", "Stopped"):
                    raise FailureEventException(
                        FailureEvent(
                            env=env,
                            error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                            event_type=HistoryEventType.TaskFailed,
                            event_details=EventDetails(
                                taskFailedEventDetails=TaskFailedEventDetails(
                                    resource=self._get_sfn_resource(),
                                    resourceType=self._get_sfn_resource_type(),
                                    error=StatesErrorNameType.StatesTaskFailed.to_name(),
                                    cause=to_json_str(description),
                                )
                            ),
                        )
                    )
                return None  # still running: the engine polls again

            return resolve

    return SageMakerTask


def route_client_to_emulator(client: Any, emulator: Any) -> None:
    """Answers every call of a boto3 ``sagemaker`` client from the emulator, as botocore's Stubber does.

    ``before-parameter-build`` keeps the caller's parameters; ``before-call`` returns the emulator's
    response (or its error, which botocore raises as the client's modelled exception) before any request
    is built or sent.
    """
    from botocore.awsrequest import AWSResponse
    from botocore.exceptions import ClientError

    def keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["offline_params"] = copy.deepcopy(params)

    def answer(model: Any, context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        try:
            response = emulator.call(model.name, context.get("offline_params") or {})
        except ClientError as e:
            status = (e.response.get("ResponseMetadata") or {}).get("HTTPStatusCode", 400)
            return AWSResponse(None, status, {}, None), e.response
        response = dict(response or {})
        response.setdefault("ResponseMetadata", {"HTTPStatusCode": 200, "RequestId": str(uuid.uuid4())})
        return AWSResponse(None, 200, {}, None), response

    client.meta.events.register("before-parameter-build.sagemaker", keep_params)
    client.meta.events.register("before-call.sagemaker", answer)


# --------------------------------------------------------------------------------------------------------
# Lambda: the real handlers, in process
# --------------------------------------------------------------------------------------------------------


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


def _runtime_error(
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


# --------------------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    execution_arn: str
    name: str
    status: str
    input: Any
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The one JSON object the offline run prints last."""
        if self.status == "SUCCEEDED":
            return {"status": self.status, "output": self.output}
        return {"status": self.status, "error": self.error, "cause": self.cause}

    def events(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.history if e["type"] == event_type]

    def states_entered(self) -> list[str]:
        return [
            e["stateEnteredEventDetails"]["name"] for e in self.history if e["type"].endswith("StateEntered")
        ]

    def state_of_event(self) -> dict[int, str]:
        """Event id -> name of the state it belongs to."""
        current: str | None = None
        owner: dict[int, str] = {}
        for event in self.history:
            if event["type"].endswith("StateEntered"):
                current = event["stateEnteredEventDetails"]["name"]
            if current is not None:
                owner[event["id"]] = current
        return owner

    def task_failures(self, state: str) -> list[dict[str, Any]]:
        """The TaskFailed details of ``state``, in order (retried attempts first)."""
        owner = self.state_of_event()
        return [
            e["taskFailedEventDetails"]
            for e in self.history
            if e["type"] == "TaskFailed" and owner.get(e["id"]) == state
        ]

    def attempts(self, state: str) -> int:
        owner = self.state_of_event()
        return sum(1 for e in self.history if e["type"] == "TaskScheduled" and owner.get(e["id"]) == state)


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
        self.functions: dict[str, LambdaFunction] = {}
        self._faults: dict[str, list[LambdaFault]] = {}
        self._exit = contextlib.ExitStack()
        self._env_lock = threading.RLock()
        self.bucket = self.stack.ref(self._bucket_logical_id())
        self.state_machine_arn = ""
        self._on_event: Callable[[dict[str, Any]], None] | None = None
        self._execution_ended = threading.Event()
        # Handlers running now, in any thread. A Map whose iteration failed ends its execution while other
        # iterations' handlers still run (as on AWS): the engine waits for them before it reports a run or
        # takes the fake AWS environment down, so none of their calls can leave it.
        self._handlers_running = 0
        self._handlers_idle = threading.Condition()
        self._closing = False
        self._asl_thread_mark = 0

    # -- set-up ------------------------------------------------------------------------------------------

    def _bucket_logical_id(self) -> str:
        buckets = [k for k, r in self.stack.resources.items() if r.get("Type") == "AWS::S3::Bucket"]
        if len(buckets) != 1:
            raise OfflineRunError(f"expected one AWS::S3::Bucket in the template, found {buckets}")
        return buckets[0]

    def __enter__(self) -> Engine:
        global _active_engine
        if not _ACTIVE_LOCK.acquire(blocking=False):
            raise OfflineRunError(_stuck_engine or "another offline engine is running in this process")
        self._asl_thread_mark = len(_asl_threads())
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
        with self._handlers_idle:
            self._closing = True  # no handler starts any more
        seconds = self._handler_drain_seconds()
        if not self._drain(self._asl_thread_mark, seconds):
            # Leaving the mock now would let their AWS calls go to whatever account the machine's own
            # credentials reach: the fake AWS environment and the engine's lock stay, and say why.
            _stuck_engine = (
                f"an earlier offline engine could not close: {self._running_description()} still running "
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
        return max((f.timeout_seconds for f in self.functions.values()), default=0) + HANDLER_DRAIN_MARGIN

    def _drain(self, thread_mark: int, timeout: float) -> bool:
        """Waits until no handler runs and the state machine threads started since ``thread_mark`` (an index
        into moto's list of them) have ended; False if that is not so after ``timeout`` seconds.

        Handlers alone are not enough: a Map's worker can be between its last check of the execution and its
        Lambda call, with no handler running yet.
        """
        deadline = time.monotonic() + timeout
        while True:
            pending = [
                t
                for t in _asl_threads()[thread_mark:]
                if t.is_alive() and t is not threading.current_thread()
            ]
            with self._handlers_idle:
                if not pending and self._handlers_running == 0:
                    return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if pending:
                pending[0].join(min(left, POLL_SECONDS))
            else:
                with self._handlers_idle:
                    self._handlers_idle.wait_for(lambda: self._handlers_running == 0, min(left, POLL_SECONDS))

    def _running_description(self) -> str:
        threads = sum(t.is_alive() for t in _asl_threads()[self._asl_thread_mark :])
        return f"{self._handlers_running} Lambda handler(s) and {threads} state machine thread(s)"

    def _start(self) -> None:
        from moto import mock_aws
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.stepfunctions.parser.asl.component.common.error_name import error_equals_decl
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
        from moto.stepfunctions.parser.asl.component.state.fail import state_fail
        from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

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

        self._exit.enter_context(mock.patch.object(boto3, "DEFAULT_SESSION", _offline_session()))

        # The engine, adjusted (see the module docstring).
        self._exit.enter_context(
            mock.patch.object(
                state_task_factory, "state_task_service_for", _service_task_factory(state_task_factory)
            )
        )
        self._exit.enter_context(
            mock.patch.object(retrier_decl, "time", types.SimpleNamespace(sleep=self._retry_sleep))
        )
        self._exit.enter_context(
            mock.patch.object(
                error_equals_decl.ErrorEqualsDecl,
                "_eval_body",
                _uncatchable_runtime_errors(error_equals_decl.ErrorEqualsDecl._eval_body),
            )
        )
        self._exit.enter_context(mock.patch.object(state_fail, "CustomErrorName", _fail_state_error_name()))
        self._exit.enter_context(mock.patch.object(LambdaSimpleBackend, "invoke", _invoke_patch(self)))
        self._exit.enter_context(
            mock.patch.object(
                EventManager,
                "_publish_history_event",
                _live_history(EventManager._publish_history_event, self),
            )
        )
        self._exit.enter_context(
            mock.patch.object(
                AmazonStateLanguageParser,
                "parse",
                staticmethod(_parse_with_cached_tree(AmazonStateLanguageParser.parse)),
            )
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

        if region == "us-east-1":
            self.s3.create_bucket(Bucket=self.bucket)
        else:
            self.s3.create_bucket(
                Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )
        self._create_roles()
        self._create_functions()
        self.sagemaker = self._make_emulator()
        # The handlers keep their clients in module globals (``s3``, ``sagemaker``), created at their first
        # invocation; the engine creates them here instead, so that the SageMaker ones can be routed to the
        # emulator (a client created inside a handler call would reach moto's SageMaker, which trains nothing)
        # and tests can reach a handler's clients before it runs.
        for function in self.functions.values():
            module = function.module
            with self._function_environment(function):
                for service in _HANDLER_CLIENTS:
                    getter = getattr(module, f"_{service}_client", None)
                    if callable(getter):
                        getter()
            for value in vars(module).values():
                if _is_client_of(value, "sagemaker"):
                    route_client_to_emulator(value, self.sagemaker)
        self._create_state_machine()

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

    def _create_roles(self) -> None:
        for logical_id, resource in self.stack.resources.items():
            kind = resource.get("Type")
            if kind == "AWS::IAM::Role":
                document = self.stack.resolve(
                    (resource.get("Properties") or {}).get("AssumeRolePolicyDocument")
                )
                self.iam.create_role(
                    RoleName=self.stack.physical_name(logical_id),
                    AssumeRolePolicyDocument=json.dumps(document),
                )
            elif kind == "AWS::Serverless::Function":
                self._create_role(self.stack.physical_name(f"{logical_id}Role"), "lambda.amazonaws.com")

    def _create_role(self, name: str, service: str) -> None:
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
        self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))

    def _create_functions(self) -> None:
        globals_ = ((self.template.get("Globals") or {}).get("Function")) or {}
        for logical_id, resource in self.stack.resources.items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            props = {**globals_, **(resource.get("Properties") or {})}
            environment = {
                **(((globals_.get("Environment") or {}).get("Variables")) or {}),
                **((((resource.get("Properties") or {}).get("Environment") or {}).get("Variables")) or {}),
            }
            environment = {str(k): str(self.stack.resolve(v)) for k, v in environment.items()}
            code_dir = self.function_code.get(logical_id) or (
                self.template_path.parent / str(props["CodeUri"])
            )
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
            created = self.lambda_client.create_function(
                FunctionName=function.name,
                Runtime=str(props.get("Runtime", "python3.13")),
                Role=self.stack.get_att(f"{logical_id}Role", "Arn"),
                Handler=function.handler,
                Code={"ZipFile": _zip_directory(function.code_dir)},
                Environment={"Variables": environment},
                MemorySize=function.memory_mb,
                Timeout=function.timeout_seconds,
                Architectures=[str(a) for a in props.get("Architectures", ["x86_64"])],
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
    def _function_environment(self, function: LambdaFunction) -> Iterator[None]:
        with self._env_lock, mock.patch.dict(os.environ, self._lambda_environment(function)):
            yield

    def _load_handler(self, function: LambdaFunction) -> types.ModuleType:
        try:
            with self._function_environment(function):
                module = loader.load_handler(function.code_dir, function.handler)
        except loader.HandlerNotFound as e:
            raise OfflineRunError(f"{function.logical_id}: {e}") from e
        self._exit.callback(loader.unload, module)
        return module

    def _create_state_machine(self) -> None:
        resource = self.stack.resources[STATE_MACHINE_LOGICAL_ID]
        props = resource.get("Properties") or {}
        created = self.sfn.create_state_machine(
            name=self.stack.get_att(STATE_MACHINE_LOGICAL_ID, "Name"),
            definition=self.definition_text,
            roleArn=str(self.stack.resolve(props.get("Role"))),
            type=str(props.get("Type", "STANDARD")),
        )
        self.state_machine_arn = created["stateMachineArn"]

    # -- faults ------------------------------------------------------------------------------------------

    def inject_lambda_fault(
        self, function: str, code: str = "ServiceException", message: str | None = None, times: int = 1
    ) -> None:
        """The next ``times`` invocations of ``function`` (logical id or name) fail with a service error.

        The state machine sees ``Lambda.<code>``, as when the Lambda service itself fails the Invoke call.
        """
        target = self._function(function)
        status = _LAMBDA_FAULT_STATUS.get(code, 500)
        text = message or f"injected {code} (offline fault)"
        self._faults.setdefault(target.name, []).append(LambdaFault(code, text, status, times))

    def _function(self, function: str) -> LambdaFunction:
        for candidate in self.functions.values():
            if function in (candidate.logical_id, candidate.name, candidate.arn):
                return candidate
        known = ", ".join(f.logical_id for f in self.functions.values())
        raise KeyError(f"no function {function!r}; the template has {known}")

    def _next_fault(self, function: LambdaFunction) -> LambdaFault | None:
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
            return _runtime_error(f"Unable to unmarshal input: {e}", "Runtime.UnmarshalError", request_id)
        handler_name = function.handler.rpartition(".")[2]
        handler = getattr(function.module, handler_name, None)
        if handler is None:
            message = f"Handler '{handler_name}' missing on module"
            return _runtime_error(message, "Runtime.HandlerNotFound", request_id)
        with self._handlers_idle:
            if self._closing:
                message = "the offline engine is closing: the execution has ended"
                return _runtime_error(message, "Offline.EngineClosed", request_id)
            self._handlers_running += 1
        try:
            with self._function_environment(function):
                result = handler(event, context)
        except Exception as e:
            # The first frame is the runtime's call of the handler, which AWS leaves out too.
            frames = traceback.format_list(traceback.extract_tb(e.__traceback__)[1:])
            return _runtime_error(str(e), type(e).__name__, request_id, frames)
        finally:
            with self._handlers_idle:
                self._handlers_running -= 1
                self._handlers_idle.notify_all()
        try:
            return json.dumps(result).encode(), False
        except (TypeError, ValueError) as e:
            return _runtime_error(f"Unable to marshal response: {e}", "Runtime.MarshalError", request_id)

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
        thread_mark = len(_asl_threads())
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
        if not self._drain(thread_mark, min(self._handler_drain_seconds(), left)):
            raise OfflineRunError(
                f"execution {name} ended, but {self._running_description()} it started are still running"
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


@functools.cache
def _offline_session() -> Any:
    import boto3

    return boto3.session.Session()


# The services whose clients the handlers keep in module globals, created by ``_<service>_client()``.
_HANDLER_CLIENTS = ("s3", "sagemaker")


def _is_client_of(value: Any, service: str) -> bool:
    from botocore.client import BaseClient

    return isinstance(value, BaseClient) and value.meta.service_model.service_name == service


def _zip_directory(directory: Path) -> bytes:
    if not directory.is_dir():
        raise OfflineRunError(f"function code directory {directory} does not exist")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def _service_task_factory(module: Any) -> Callable[[str], Any]:
    original = module.state_task_service_for
    task_class = _sagemaker_task_class()

    def state_task_service_for(service_name: str) -> Any:
        if service_name == "sagemaker":
            return task_class()
        return original(service_name=service_name)

    return state_task_service_for


def _uncatchable_runtime_errors(original: Callable[..., None]) -> Callable[..., None]:
    """ErrorEquals matching as on AWS: States.ALL never matches States.Runtime or States.DataLimitExceeded."""
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    terminal = {StatesErrorNameType.StatesRuntime, StatesErrorNameType.StatesStatesDataLimitExceeded}

    def _eval_body(self: Any, env: Any) -> None:
        error_name = env.stack[-1]
        if isinstance(error_name, StatesErrorName) and error_name.typ in terminal:
            env.stack.pop()
            env.stack.append(error_name in self.error_names)
            return
        original(self, env)

    return _eval_body


def _fail_state_error_name() -> type:
    """A Fail state re-raises the error name its ErrorPath reads, ``States.TaskFailed`` included.

    LocalStack builds that name with ``CustomErrorName``, which refuses the ``States.`` prefix (a rule for
    the errors a task raises), so a Catch -> Fail pair re-raising a failed ``.sync`` job crashed offline.
    """
    from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName

    class FailStateErrorName(ErrorName):
        pass

    return FailStateErrorName


def _invoke_patch(engine: Engine) -> Callable[..., Any]:
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.exceptions import JsonRESTError

    original = LambdaSimpleBackend.invoke

    class LambdaServiceError(JsonRESTError):
        def __init__(self, code: str, message: str, status: int) -> None:
            super().__init__(code, message)
            self.code = status

    def invoke(
        backend: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes | None:
        fn = backend.get_function(function_name, qualifier)
        function = engine.functions.get(fn.function_name)
        if function is None:
            return original(backend, function_name, qualifier, body, headers, response_headers)
        fault = engine._next_fault(function)
        if fault is not None:
            raise LambdaServiceError(fault.code, fault.message, fault.status)
        payload = body if isinstance(body, bytes) else str(body or "").encode("utf-8")
        response, errored = engine.invoke_handler(function, payload)
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-executed-version"] = "$LATEST"
        return response

    return invoke


def _live_history(original: Callable[..., None], engine: Engine) -> Callable[..., None]:
    """Hands each history event to the engine as it is written (the engine holds the history's lock)."""

    def _publish_history_event(manager: Any, *args: Any, **kwargs: Any) -> None:
        original(manager, *args, **kwargs)
        engine._live_event(copy.deepcopy(manager._history_event_list[-1]))

    return _publish_history_event


@functools.lru_cache(maxsize=32)
def _asl_parse_tree(parse: Callable[[str], tuple[Any, Any]], definition: str) -> Any:
    """ANTLR's parse tree of a definition (a syntax error raises, and is not cached)."""
    return parse(definition)[1]


def _parse_with_cached_tree(parse: Callable[[str], tuple[Any, Any]]) -> Callable[[str], tuple[Any, Any]]:
    """moto's ``AmazonStateLanguageParser.parse`` with the ANTLR tree kept per definition text.

    moto parses the definition when the state machine is created and again for every execution, about
    0.2 s each in ANTLR's pure-Python runtime. The tree is only read: each call still builds the program
    (the state components) afresh from it, as moto does.
    """
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    def cached(definition: str) -> tuple[Any, Any]:
        tree = _asl_parse_tree(parse, definition)
        return Preprocessor().visit(tree), tree

    return cached
