"""The state machine definition: valid after substitution, environment-free, every failure handled."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonpath_ng import parse
from moto.stepfunctions.parser.asl.utils.json_path import extract_json

from offline.template import Stack, placeholders
from tests.static.conftest import run_tool, tool
from tests.static.support import WARM_TUNING_STATE

LAMBDA_TRANSIENT_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
}
# A Create* call that failed or timed out may have created its job: a retry collides on the job name.
NOT_RETRYABLE_ON_CREATE = {"States.ALL", "States.TaskFailed", "States.Timeout"}


def _states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, those of Parallel branches and Map iterators included."""
    for name, state in definition["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from _states(state[key])


def _tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: state for name, state in _states(definition) if state["Type"] == "Task"}


def _transitions(state: dict[str, Any]) -> list[str]:
    targets = [state["Next"]] if "Next" in state else []
    targets += [choice["Next"] for choice in state.get("Choices", [])]
    targets += [state["Default"]] if "Default" in state else []
    targets += [catcher["Next"] for catcher in state.get("Catch", [])]
    return targets


def _check_graph(definition: dict[str, Any], where: str) -> None:
    states = definition["States"]
    assert definition["StartAt"] in states, f"{where}: StartAt {definition['StartAt']!r} is not a state"
    for name, state in states.items():
        for target in _transitions(state):
            assert target in states, f"{where}: {name!r} goes to {target!r}, which is not a state"
        terminal = state.get("End") is True or state["Type"] in ("Succeed", "Fail")
        assert terminal or _transitions(state), f"{where}: {name!r} neither ends nor goes anywhere"
        for index, branch in enumerate(state.get("Branches", [])):
            _check_graph(branch, f"{where}.{name}.Branches[{index}]")
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                _check_graph(state[key], f"{where}.{name}.{key}")
    reached, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(_transitions(states[name]))
    assert set(states) == reached, f"{where}: unreachable states {sorted(set(states) - reached)}"


def _sync_tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: state for name, state in _tasks(definition).items() if state["Resource"].endswith(".sync")}


def test_substituted_definition_passes_statelint(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / f"tuning-{stack.region}.asl.json"
    path.write_text(stack.definition_text(), encoding="utf-8")
    result = run_tool([tool("statelint"), str(path)])
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_substituted_definition_names_the_region_and_partition(stack: Stack) -> None:
    text = stack.definition_text()
    assert not placeholders(text)
    assert re.findall(r"arn:([a-z-]+):", text) and set(re.findall(r"arn:([a-z-]+):", text)) == {
        stack.partition
    }
    image = stack.definition_substitutions()["XGBoostImageUri"]
    assert image.startswith(stack.template["Mappings"]["XGBoostRegistry"][stack.region]["Account"])
    assert f".dkr.ecr.{stack.region}.{stack.url_suffix}/" in image


def test_every_substitution_is_used_and_every_placeholder_is_defined(
    template: dict[str, Any], asl_text: str
) -> None:
    defined = set(template["Resources"]["TuningStateMachine"]["Properties"]["DefinitionSubstitutions"])
    used = placeholders(asl_text)
    assert sorted(defined - used) == [], "substitutions the definition never uses"
    assert sorted(used - defined) == [], "placeholders no substitution defines"


def test_definition_file_holds_no_environment(template: dict[str, Any], asl_text: str) -> None:
    regions = set(template["Mappings"]["XGBoostRegistry"])
    text = asl_text
    assert not re.search(r"(?<!\d)\d{12}(?!\d)", text), "an account id"
    assert not [region for region in regions if region in text], "a region name"
    assert not re.search(r"\b[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d\b", text), "a region name"
    assert not re.search(r"arn:aws", text), "an ARN with a literal partition (use ${Partition})"
    arns = re.findall(r"arn:[^\"]*", text)
    assert all(re.fullmatch(r"arn:\$\{Partition\}:states:::[a-zA-Z:.-]+", arn) for arn in arns), arns
    # A States.Format template may build an s3:// URI from the state ('s3://{}/{}...'), never name a bucket.
    assert not re.search(r"s3://(?!\{\})", text) and "arn:${Partition}:s3" not in text, "a bucket"
    assert ".dkr.ecr." not in text and "amazonaws.com" not in text, "an image or endpoint"
    assert "sagemaker-xgboost" not in text and ":latest" not in text, "an image"
    assert not re.search(r"\bml\.[a-z0-9]+\.[a-z0-9]+\b", text), "an instance type"


def test_every_transition_exists_and_every_state_is_reachable(
    state_machine_definition: dict[str, Any],
) -> None:
    _check_graph(state_machine_definition, "definition")


def test_every_task_retries_and_catches_everything_into_a_fail_state(
    state_machine_definition: dict[str, Any],
) -> None:
    states = dict(_states(state_machine_definition))
    # A task inside a Map cannot catch into the outer states: its error fails the Map, whose Catch handles it.
    enclosing = {
        inner: outer
        for outer, state in state_machine_definition["States"].items()
        if state["Type"] == "Map"
        for inner, _ in _states(state.get("ItemProcessor") or state.get("Iterator") or {"States": {}})
    }
    for name, task in _tasks(state_machine_definition).items():
        assert task.get("Retry"), f"{name} has no Retry"
        catchers = task.get("Catch") or states.get(enclosing.get(name, name), {}).get("Catch", [])
        assert catchers, f"{name} has no Catch (nor has the Map around it)"
        assert "States.ALL" in catchers[-1]["ErrorEquals"], f"{name}: the last catcher must catch States.ALL"
        for catcher in catchers:
            target = states[catcher["Next"]]
            if name == "Generate Dataset Shard":
                # Records the failure and ends the iteration, so every shard ends before Check Dataset Shards
                # (after the Map) removes their files and fails the run.
                assert (catcher["Next"], target["Type"], target.get("End")) == (
                    "Dataset Shard Failed",
                    "Pass",
                    True,
                )
                assert states["Generate Dataset Shards"]["Next"] == "Check Dataset Shards"
                continue
            if (
                name.startswith("HyperparameterTuning (XGBoost")
                and catcher["Next"] == "Read Training Job Failure"
            ):
                # Reads the failed training jobs' reason on the way to Tuning Failed (checked below).
                continue
            assert target["Type"] == "Fail", (
                f"{name} catches {catcher['ErrorEquals']} into a {target['Type']}"
            )
            # The Fail state reads the error where the catcher put it: the ResultPath applied and the
            # paths read as moto's engine does (jsonpath-ng's update_or_create, its extract_json).
            error = {"Error": "E", "Cause": "C"}
            if "ResultPath" in catcher and catcher["ResultPath"] is None:
                # The input goes on unchanged: Read Training Job Failure keeps the tuning job's error.
                assert (name, catcher["Next"]) == ("Read Training Job Failure", "Tuning Failed"), name
                continue
            caught = parse(catcher.get("ResultPath", "$")).update_or_create({"input": {}}, error)
            for key, expected in (("ErrorPath", "E"), ("CausePath", "C")):
                path = target.get(key)
                if path is None:
                    continue
                # An intrinsic (States.Format) words the cause around the caught one: it must read that.
                intrinsic = re.fullmatch(r"States\.Format\(.*, (\$[^,()]*)\)", path)
                path = intrinsic.group(1) if intrinsic else path
                assert extract_json(path, caught) == expected, (name, catcher["Next"], key)


def test_fail_states_report_an_error_and_a_cause(state_machine_definition: dict[str, Any]) -> None:
    fails = {name: state for name, state in _states(state_machine_definition) if state["Type"] == "Fail"}
    assert fails
    for name, state in fails.items():
        assert {"Error", "ErrorPath"} & set(state), f"{name} has no Error"
        assert {"Cause", "CausePath"} & set(state), f"{name} has no Cause"


def test_named_handler_errors_reach_their_own_fail_states(state_machine_definition: dict[str, Any]) -> None:
    """Invalid input and a tuning job without a completed training job tell the person so."""
    caught = {
        error: catcher["Next"]
        for task in _tasks(state_machine_definition).values()
        for catcher in task.get("Catch", [])
        for error in catcher["ErrorEquals"]
    }
    assert caught.get("InvalidExecutionInput") == "Invalid Execution Input"
    assert caught.get("NoBestTrainingJob") == "No Training Job Completed"


def test_sync_tasks_and_the_machine_time_out_after_the_longest_job_allowed(
    template: dict[str, Any], state_machine_definition: dict[str, Any]
) -> None:
    parameters = template["Parameters"]
    sync = _sync_tasks(state_machine_definition)
    assert sync, "no .sync task"
    for name, state in sync.items():
        assert isinstance(state.get("TimeoutSeconds"), int), f"{name} has no TimeoutSeconds"
        # The job's own limits come from these parameters; the state must outwait the largest they allow.
        limits = placeholders(json.dumps(state.get("Parameters", {}))) & {
            key for key, spec in parameters.items() if "MaxValue" in spec and key.endswith("RuntimeSeconds")
        }
        for limit in limits:
            assert state["TimeoutSeconds"] > parameters[limit]["MaxValue"], (name, limit)
    tuning = sync["HyperparameterTuning (XGBoost)"]["TimeoutSeconds"]
    assert tuning > parameters["MaxTuningRuntimeSeconds"]["MaxValue"]
    assert tuning > parameters["MaxTrainingJobRuntimeSeconds"]["MaxValue"]
    # The machine's limit must not cut short a run whose jobs each stay within theirs.
    # A run takes one of the two tuning states (Warm Start? chooses).
    others = sum(state["TimeoutSeconds"] for name, state in sync.items() if name != WARM_TUNING_STATE)
    assert state_machine_definition.get("TimeoutSeconds", 0) > others


def test_sagemaker_create_tasks_never_retry_task_failures(state_machine_definition: dict[str, Any]) -> None:
    creates = {
        name: task
        for name, task in _tasks(state_machine_definition).items()
        if re.search(r":states:::sagemaker:create", task["Resource"])
    }
    # The tuning job (cold or warm-started), the model, the transform (optimized integration).
    assert len(creates) == 4
    for name, task in creates.items():
        retried = {error for retrier in task.get("Retry", []) for error in retrier["ErrorEquals"]}
        assert not retried & NOT_RETRYABLE_ON_CREATE, f"{name} retries {retried & NOT_RETRYABLE_ON_CREATE}"
        # Step Functions reports SageMaker throttling (and every error the API does not model for the
        # operation) as AmazonSageMakerException; SageMaker.ThrottlingException is never raised.
        assert "SageMaker.AmazonSageMakerException" in retried, name
        assert not {e for e in retried if e.startswith("SageMaker.Throttling")}, name
        over = "SageMaker.ResourceLimitExceededException"
        (limit,) = [r for r in task["Retry"] if over in r["ErrorEquals"]]
        # Short: waiting never helps when the quota itself is too small; the cause then says what to change.
        assert limit["MaxAttempts"] <= 2 and limit["MaxDelaySeconds"] <= 120, name
        (quota,) = [c for c in task["Catch"] if over in c["ErrorEquals"]]
        assert task["Catch"].index(quota) == 0 and quota["Next"] == "SageMaker Quota Exceeded", name
        assert all(retrier.get("JitterStrategy") == "FULL" for retrier in task["Retry"]), name


def _sagemaker_error_names_step_functions_raises(resource: str) -> set[str]:
    """The ``SageMaker.*`` error names a SageMaker task of this integration can fail with.

    Step Functions names a service's errors after the AWS SDK for Java's exception classes ("AWS SDK service
    integrations" and "Handling errors" in the Step Functions Developer Guide: ``ServiceName.ExceptionName``,
    ``Exception`` appended): each error SageMaker's API models keeps its shape's name (botocore's model
    lists the same shapes), and every other code (ThrottlingException, ValidationException, internal
    errors) is the SDK's base class: ``AmazonSageMakerException`` (SDK 1.x) for the optimized integration,
    ``SageMakerException`` (SDK 2.x) for the AWS SDK integration, whose classes are 2.x's. No
    ``SageMaker.ThrottlingException`` is ever raised: a retrier naming it would never fire.
    """
    import botocore.session

    modelled = botocore.session.get_session().get_service_model("sagemaker").error_shapes
    names = {f"SageMaker.{shape.name.removesuffix('Exception')}Exception" for shape in modelled}
    base = "SageMakerException" if ":states:::aws-sdk:sagemaker:" in resource else "AmazonSageMakerException"
    return names | {f"SageMaker.{base}"}


def test_sagemaker_tasks_retry_and_catch_only_error_names_step_functions_raises(
    state_machine_definition: dict[str, Any],
) -> None:
    sagemaker = {
        name: task
        for name, task in _tasks(state_machine_definition).items()
        if re.search(r":states:::(aws-sdk:)?sagemaker:", task["Resource"])
    }
    sdk = {name for name, task in sagemaker.items() if ":aws-sdk:" in task["Resource"]}
    assert sdk == {"Register Model", "Read Training Job Failure"}
    for name, task in sagemaker.items():
        raised = _sagemaker_error_names_step_functions_raises(task["Resource"])
        handlers = task.get("Retry", []) + task.get("Catch", [])
        named = {e for handler in handlers for e in handler["ErrorEquals"] if e.startswith("SageMaker.")}
        assert named <= raised, f"{name} names {named - raised}, which its integration never raises"
        retried = {e for retrier in task.get("Retry", []) for e in retrier["ErrorEquals"]}
        base = "SageMaker.SageMakerException" if name in sdk else "SageMaker.AmazonSageMakerException"
        assert base in retried, f"{name} does not retry throttling ({base})"


def test_only_a_failed_tuning_job_reads_its_training_jobs_and_every_way_ends_in_tuning_failed(
    state_machine_definition: dict[str, Any],
) -> None:
    states = state_machine_definition["States"]
    tuning = states["HyperparameterTuning (XGBoost)"]
    nexts = [(catcher["ErrorEquals"], catcher["Next"]) for catcher in tuning["Catch"]]
    # States.TaskFailed matches every error but States.Timeout: the API errors go straight to the Fail
    # state first, so only a job that ended Failed or Stopped (States.TaskFailed itself) is read.
    read_at = nexts.index((["States.TaskFailed"], "Read Training Job Failure"))
    before = {error for errors, _ in nexts[:read_at] for error in errors}
    create_errors = _sagemaker_error_names_step_functions_raises(tuning["Resource"])
    assert before >= create_errors - {"SageMaker.ConflictException", "SageMaker.ResourceNotFoundException"}
    read = states["Read Training Job Failure"]
    assert read["Resource"].endswith(":states:::aws-sdk:sagemaker:listTrainingJobsForHyperParameterTuningJob")
    assert read["Parameters"]["StatusEquals"] == "Failed"
    # A failed read keeps the tuning job's error (ResultPath null) and ends in the same Fail state.
    assert read["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Tuning Failed"}]
    seen, todo = set(), ["Read Training Job Failure"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += _transitions(states[name])
    ends = {name for name in seen if states[name]["Type"] == "Fail"}
    assert ends == {"Tuning Failed"}


def test_lambda_tasks_retry_the_transient_lambda_errors(state_machine_definition: dict[str, Any]) -> None:
    invokes = {
        name: task
        for name, task in _tasks(state_machine_definition).items()
        if task["Resource"].endswith(":lambda:invoke")
    }
    assert len(invokes) == 6  # the four functions, the dataset function again per shard and to check them
    for name, task in invokes.items():
        retried = {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}
        assert retried >= LAMBDA_TRANSIENT_ERRORS, f"{name} misses {LAMBDA_TRANSIENT_ERRORS - retried}"
        assert not retried & {"States.ALL", "States.TaskFailed"}, f"{name} retries its own errors"
        for retrier in task["Retry"]:
            assert retrier.get("BackoffRate", 1) > 1 and retrier.get("JitterStrategy") == "FULL", name
