"""Step Functions' optimized SageMaker integration on moto's engine, served by the offline emulator.

Errors are named as Step Functions names them, responses are passed on as Step Functions passes SDK
responses (epoch-millisecond timestamps), and the handlers' own ``sagemaker`` clients are answered by the
same emulator.
"""

from __future__ import annotations

import copy
import datetime
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import UnknownServiceError

from offline.definition import SAGEMAKER_ACTIONS, SAGEMAKER_SYNC_ACTIONS
from offline.request_validation import operation_model, service_model


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


@dataclass(frozen=True)
class SageMakerRequest:
    """A request a SageMaker task state handed the emulator (Create*, not the .sync polling)."""

    execution_arn: str
    state: str
    resource: str
    operation: str
    parameters: dict[str, Any]


def request_of(env: Any, resource: str, operation: str, parameters: dict[str, Any]) -> SageMakerRequest:
    """The request a task state sends, with the execution and state it comes from."""
    context = env.states.context_object.context_object_data
    return SageMakerRequest(
        execution_arn=context["Execution"]["Id"],
        state=context["State"]["Name"],
        resource=resource,
        operation=operation,
        parameters=copy.deepcopy(parameters),
    )


def sagemaker_task_class(emulator: Callable[[], Any], record: Callable[[SageMakerRequest], None]) -> type:
    """The task state class for ``arn:aws:states:::sagemaker:*``, built on moto's parser classes.

    ``emulator()`` is the SageMaker emulator of the running engine; ``record`` keeps each request.
    """
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
            record(request_of(env, self.resource.resource_arn, self._operation_name(), normalised_parameters))
            response = emulator().call(self._operation_name(), copy.deepcopy(normalised_parameters))
            env.stack.append(json_safe(response or {}))

        def _build_sync_resolver(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
        ) -> Callable[[], Any]:
            env.stack.pop()  # the Create* response
            describe, name_key, status_key = SAGEMAKER_SYNC_ACTIONS[self.resource.api_action]
            job_name = normalised_parameters.get(name_key)

            def resolve() -> dict[str, Any] | None:
                description = json_safe(emulator().call(describe, {name_key: job_name}))
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


def sdk_error_name(service: str, code: str) -> str:
    """``Service.ErrorName`` as Step Functions names an AWS SDK integration's error.

    The AWS SDK integration reports errors by the AWS SDK for Java 2.x's exception classes: an error the
    service's API models keeps its shape name with ``Exception`` appended (``ResourceNotFound`` ->
    ``SageMaker.ResourceNotFoundException``); every other code (ThrottlingException, ValidationException,
    InternalFailure...) is the service's base class, ``SageMaker.SageMakerException``. (The optimized
    integration names the same errors after the 1.x classes instead: ``SageMaker.AmazonSageMakerException``,
    see ``sagemaker_error_name``.) moto's engine, LocalStack's, names them the same way.
    """
    service_name = {"sagemaker": "SageMaker"}.get(service, service[:1].upper() + service[1:])
    try:
        modelled = {shape.name for shape in service_model(service).error_shapes}
    except UnknownServiceError:  # a service botocore does not know models no error
        modelled = set()
    if code in modelled:
        return f"{service_name}.{code if code.endswith('Exception') else code + 'Exception'}"
    return f"{service_name}.{service_name}Exception"


def sdk_error_cause(service: str, error: Any) -> str:
    """The cause text of an AWS SDK integration's error, as the Java 2.x SDK words its exceptions."""
    response = getattr(error, "response", None) or {}
    info = response.get("Error") or {}
    metadata = response.get("ResponseMetadata") or {}
    service_name = {"sagemaker": "SageMaker"}.get(service, service)
    details = ", ".join(
        [
            f"Service: {service_name}",
            f"Status Code: {metadata.get('HTTPStatusCode', 400)}",
            f"Request ID: {metadata.get('RequestId') or uuid.uuid4()}",
        ]
    )
    return f"{info.get('Message', str(error))} ({details})"


def sdk_task_class(emulator: Callable[[], Any], record: Callable[[SageMakerRequest], None]) -> type:
    """The task state class for ``arn:aws:states:::aws-sdk:*``: moto's, with SageMaker requests checked
    against the API's input shape first (as ``LocalSageMaker`` checks the optimized integration's) and
    errors named as Step Functions names them. A SageMaker call the emulator implements
    (ListTrainingJobsForHyperParameterTuningJob) is answered by ``emulator()``, which holds the jobs; the
    others reach moto's backends (CreateModelPackage: the model registry, which moto keeps)."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk,
    )

    from offline.request_validation import request_errors, validation_exception, validation_message

    class SdkTask(state_task_service_aws_sdk.StateTaskServiceAwsSdk):
        def _operation_name(self) -> str:
            action = self.resource.api_action
            return action[0].upper() + action[1:]

        def _from_error(self, env: Any, ex: Exception) -> Any:
            if isinstance(ex, ClientError):
                code = (ex.response.get("Error") or {}).get("Code", "") or "Unknown"
                service = self.resource.api_name
                error = sdk_error_name(service, code)
                return self._get_task_failure_event(env=env, error=error, cause=sdk_error_cause(service, ex))
            return super()._from_error(env=env, ex=ex)

        def _eval_service_task(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
        ) -> None:
            if self.resource.api_name == "sagemaker":
                operation = self._operation_name()
                record(request_of(env, self.resource.resource_arn, operation, normalised_parameters))
                errors = request_errors(operation, normalised_parameters)
                if errors:
                    raise validation_exception(operation, validation_message(errors))
                if emulator().implements(operation):
                    response = emulator().call(operation, copy.deepcopy(normalised_parameters))
                    env.stack.append(json_safe(response or {}))
                    return
            super()._eval_service_task(env, resource_runtime_part, normalised_parameters, state_credentials)
            if env.stack:
                env.stack.append(json_safe(env.stack.pop()))

    return SdkTask
