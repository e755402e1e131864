"""What the static tests share: the template as deployed per region, and the workflow run on the real engine.

- The template is resolved by ``offline.template.Stack``, the offline run's own resolver, so the tests and
  the offline run cannot disagree on a name, an ARN or a substitution.
- ``record_runs`` runs the definition on ``offline.engine`` (moto's Step Functions engine, the real
  handlers, the SageMaker emulator) with small data, and keeps what each execution did: every task's
  request as the engine scheduled it, every SageMaker request as the emulator received it (JSONPaths
  filled from the handlers' real outputs), the objects each state wrote, the final output. Runs are
  cached per region, parameters and execution names, so each engine starts once per session.
- IAM helpers: wildcard matching, and the statements that allow an action on a resource.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from offline.engine import Engine, _walk_states
from offline.template import Stack

# Regions of the three partitions the template's mapping serves (aws, aws-cn, aws-us-gov), and a region
# opened recently. Every one runs on the engine: moto serves all three partitions (the engine gives IAM a
# regional endpoint so that GovCloud roles keep their partition), so nothing region-dependent is
# re-derived by hand.
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-4", "cn-north-1", "us-gov-west-1")
US_EAST_1 = "us-east-1"
# An execution the console starts gets a UUID as its name (36 characters).
CONSOLE_EXECUTION_NAME = "3f6c1b2e-9a4d-4c7e-8b21-5d0e7a9f4c13"
ANOTHER_CONSOLE_EXECUTION_NAME = "3f6c1b2e-9a4d-4c7e-8b21-5d0e7a9f4c14"
# Names a person may give an execution.
UNUSUAL_EXECUTION_NAMES = (
    "A" * 80,  # the longest execution name Step Functions accepts
    "Nightly_Run-2026.11.28_with_UPPER_case_and_underscores_and_a_long_tail_of_words",
    "___",  # nothing left after the slug
    "x",
)
# Small data and two training jobs: a run takes well under a second. 200 rows cannot reach the default
# quality gate (1.25x the noise floor; measured ~1.8x): a loose template threshold keeps the gate running and
# passing (tests/offline checks it fail).
SMALL_INPUT = {"trainRows": 200, "validationRows": 50, "testRows": 50}
FEW_JOBS = {"MaxTrainingJobs": 2, "MaxParallelTrainingJobs": 2, "MaxTestRmse": "5"}
# SageMaker names a tuning job's training jobs <tuning job>-<3-digit index>-<8 hex digits>.
FIRST_TRAINING_JOB = re.compile(r"-001-[0-9a-f]{8}$")
GENERATE_STATE = "Generate Training Dataset"
TUNING_STATE = "HyperparameterTuning (XGBoost)"
WARM_TUNING_STATE = "HyperparameterTuning (XGBoost, warm start)"
SAVE_MODEL_STATE = "HyperparameterTuning - Save Model"
TRANSFORM_STATE = "Batch transform"
EVALUATE_STATE = "Evaluate Model"


@dataclass(frozen=True)
class Run:
    """What one execution did on the engine."""

    stack: Stack
    name: str
    input: Any
    status: str
    error: str | None
    cause: str | None
    output: Any
    states_entered: list[str]
    # state -> (Resource, the request it sent), from its TaskScheduled event
    calls: dict[str, tuple[str, dict[str, Any]]]
    # state -> (operation, the request), as the engine handed it to the SageMaker emulator
    sagemaker_requests: dict[str, tuple[str, dict[str, Any]]]
    # state -> keys of the objects that appeared in the bucket while it ran
    written_by: dict[str, list[str]]
    # key -> body of every object the execution wrote
    objects: dict[str, bytes]

    @property
    def bucket(self) -> str:
        return self.stack.physical_name("DataBucket")

    def objects_under(self, uri: str) -> dict[str, bytes]:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        assert bucket == self.bucket, uri
        return {key: body for key, body in self.objects.items() if key.startswith(prefix)}


def record_runs(
    region: str,
    parameters: Mapping[str, Any],
    names: Sequence[str],
    *,
    train_first_job_only: bool = False,
    extra_input: Mapping[str, Any] | None = None,
) -> dict[str, Run]:
    """One engine in ``region`` with these template parameters; one execution of SMALL_INPUT per name.

    ``train_first_job_only``: every training job but each tuning job's first fails as it starts, for runs
    whose requests are under test and whose hundred training jobs would only cost time. ``extra_input``:
    keys added to SMALL_INPUT (a strategy, spot...).
    """
    key = tuple(sorted((k, str(v)) for k, v in parameters.items()))
    extra = json.dumps(dict(extra_input or {}), sort_keys=True)
    return _record_runs(region, key, tuple(names), train_first_job_only, extra)


@functools.cache
def _record_runs(
    region: str,
    parameters: tuple[tuple[str, str], ...],
    names: tuple[str, ...],
    train_first_job_only: bool,
    extra_input: str = "{}",
) -> dict[str, Run]:
    with Engine(region=region, parameters=dict(parameters)) as engine:
        if train_first_job_only:
            engine.sagemaker.fail_training_jobs_when(
                lambda name, _: (
                    None if FIRST_TRAINING_JOB.search(name) else "not trained: only the request is under test"
                )
            )
        return {name: _run(engine, name, {**SMALL_INPUT, **json.loads(extra_input)}) for name in names}


def _keys(engine: Engine) -> set[str]:
    prefix = f"s3://{engine.bucket}/"
    return {uri.removeprefix(prefix) for uri in engine.list_s3(prefix)}


def _run(engine: Engine, name: str, execution_input: Mapping[str, Any]) -> Run:
    seen = _keys(engine)
    written: dict[str, list[str]] = {}

    def on_event(event: dict[str, Any]) -> None:
        # The engine calls this in the execution's thread, so the bucket is still as the state left it.
        if event["type"].endswith("StateExited"):
            new = sorted(_keys(engine) - seen)
            written.setdefault(event["stateExitedEventDetails"]["name"], []).extend(new)
            seen.update(new)

    result = engine.run(dict(execution_input), name=name, on_event=on_event)
    late = sorted(_keys(engine) - seen)  # written by the state the execution failed in
    if late:
        written.setdefault(result.states_entered()[-1], []).extend(late)
    owner = result.state_of_event()
    # Map iterations' states included (Generate Dataset Shard, when the parameters make the data sharded).
    states = {state_name: state for state_name, _, state in _walk_states(engine.definition["States"])}
    calls = {
        owner[event["id"]]: (
            states[owner[event["id"]]]["Resource"],
            json.loads(event["taskScheduledEventDetails"]["parameters"]),
        )
        for event in result.events("TaskScheduled")
    }
    requests = {
        request.state: (request.operation, request.parameters)
        for request in engine.sagemaker_requests
        if request.execution_arn == result.execution_arn
    }
    objects = {
        key: engine.s3.get_object(Bucket=engine.bucket, Key=key)["Body"].read()
        for keys in written.values()
        for key in keys
    }
    return Run(
        stack=engine.stack,
        name=name,
        input=result.input,
        status=result.status,
        error=result.error,
        cause=result.cause,
        output=result.output,
        states_entered=result.states_entered(),
        calls=calls,
        sagemaker_requests=requests,
        written_by=written,
        objects=objects,
    )


# --------------------------------------------------------------------------------------------------------
# IAM
# --------------------------------------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def glob_matches(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """IAM wildcard matching: ``*`` any run of characters, ``?`` one character, nothing else special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def role_statements(stack: Stack, logical_id: str) -> list[dict[str, Any]]:
    """Every statement of a role's inline policies, intrinsics resolved."""
    props = stack.resources[logical_id]["Properties"]
    statements = []
    for policy in props.get("Policies", []):
        statements.extend(as_list(stack.resolve(policy["PolicyDocument"])["Statement"]))
    return statements


def allowing_statements(statements: list[dict[str, Any]], action: str, resource: str) -> list[dict[str, Any]]:
    """The Allow statements that grant ``action`` on ``resource`` (NotAction/NotResource are not used)."""
    found = []
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = as_list(statement.get("Action", []))
        resources = as_list(statement.get("Resource", []))
        if any(glob_matches(a, action, case_sensitive=False) for a in actions) and any(
            glob_matches(r, resource) for r in resources
        ):
            found.append(statement)
    return found
