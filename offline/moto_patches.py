"""The patches that make moto's Step Functions engine behave as AWS does, or cost less; see ``install``.

Each patch is entered on the engine's ``ExitStack``, so it lasts exactly as long as the engine.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import threading
import types
from collections.abc import Callable
from typing import Any
from unittest import mock

from offline.lambda_runtime import LambdaRuntime


def asl_threads() -> list[threading.Thread]:
    """moto's list of every thread its state machine interpreter started (executions, Map workers, tasks)."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    return TMP_THREADS


@functools.cache
def offline_session() -> Any:
    """The one boto3 session of the process's offline runs (botocore reads each service model once)."""
    import boto3

    return boto3.session.Session()


def install(
    exit_stack: contextlib.ExitStack,
    *,
    sagemaker_task: type,
    sdk_task: type,
    retry_sleep: Callable[[float], None],
    lambdas: LambdaRuntime,
    on_history_event: Callable[[dict[str, Any]], None],
) -> None:
    """SageMaker tasks served by ``sagemaker_task``, retry sleeps through ``retry_sleep``, AWS's error
    matching and Fail state names, Lambda invocations run by ``lambdas``, each history event handed to
    ``on_history_event``, and the definition's parse tree kept per text."""
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.stepfunctions.parser.asl.component.common.error_name import error_equals_decl
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
    from moto.stepfunctions.parser.asl.component.state.fail import state_fail
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    exit_stack.enter_context(
        mock.patch.object(
            state_task_factory,
            "state_task_service_for",
            _service_task_factory(state_task_factory, sagemaker_task, sdk_task),
        )
    )
    exit_stack.enter_context(
        mock.patch.object(retrier_decl, "time", types.SimpleNamespace(sleep=retry_sleep))
    )
    exit_stack.enter_context(
        mock.patch.object(
            error_equals_decl.ErrorEqualsDecl,
            "_eval_body",
            _uncatchable_runtime_errors(error_equals_decl.ErrorEqualsDecl._eval_body),
        )
    )
    exit_stack.enter_context(mock.patch.object(state_fail, "CustomErrorName", _fail_state_error_name()))
    exit_stack.enter_context(mock.patch.object(LambdaSimpleBackend, "invoke", _invoke_patch(lambdas)))
    exit_stack.enter_context(
        mock.patch.object(
            EventManager,
            "_publish_history_event",
            _live_history(EventManager._publish_history_event, on_history_event),
        )
    )
    exit_stack.enter_context(
        mock.patch.object(
            AmazonStateLanguageParser,
            "parse",
            staticmethod(_parse_with_cached_tree(AmazonStateLanguageParser.parse)),
        )
    )


def _service_task_factory(module: Any, task_class: type, sdk_task_class: type) -> Callable[[str], Any]:
    original = module.state_task_service_for

    def state_task_service_for(service_name: str) -> Any:
        if service_name == "sagemaker":
            return task_class()
        if service_name == "aws-sdk":
            return sdk_task_class()
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


def _invoke_patch(runtime: LambdaRuntime) -> Callable[..., Any]:
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
        function = runtime.functions.get(fn.function_name)
        if function is None:
            return original(backend, function_name, qualifier, body, headers, response_headers)
        fault = runtime.next_fault(function)
        if fault is not None:
            raise LambdaServiceError(fault.code, fault.message, fault.status)
        payload = body if isinstance(body, bytes) else str(body or "").encode("utf-8")
        response, errored = runtime.invoke_handler(function, payload)
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-executed-version"] = "$LATEST"
        return response

    return invoke


def _live_history(
    original: Callable[..., None], on_event: Callable[[dict[str, Any]], None]
) -> Callable[..., None]:
    """Hands each history event to ``on_event`` as it is written (the engine holds the history's lock)."""

    def _publish_history_event(manager: Any, *args: Any, **kwargs: Any) -> None:
        original(manager, *args, **kwargs)
        on_event(copy.deepcopy(manager._history_event_list[-1]))

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
