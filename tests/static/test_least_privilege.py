"""Least privilege, round two: conditions on the grants that take no narrower resource, the region rule and
the console link of every partition."""

from __future__ import annotations

import re
from typing import Any

from offline.template import Stack
from tests.static.support import (
    SAVE_MODEL_STATE,
    TRANSFORM_STATE,
    TUNING_STATE,
    Run,
    allowing_statements,
    as_list,
    role_statements,
)

# SageMaker's pattern for job and model names (the limit is checked apart).
JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")

CONSOLE_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


def _statements_with(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in statements if action in as_list(s.get("Action", []))]


def test_console_link_output_uses_the_console_host_of_the_stack_partition(stack: Stack) -> None:
    url = stack.resolve(stack.template["Outputs"]["TuningStateMachineConsoleUrl"]["Value"])
    machine = stack.get_att("TuningStateMachine", "Arn")
    assert url == (
        f"https://{CONSOLE_HOSTS[stack.partition]}/states/home?region={stack.region}"
        f"#/statemachines/view/{machine}"
    )


def test_a_region_without_the_xgboost_image_is_refused_by_a_rule_naming_the_supported_ones(
    template: dict[str, Any],
) -> None:
    supported = list(template["Mappings"]["XGBoostRegistry"])
    (assertion,) = template["Rules"]["XGBoostImageRegion"]["Assertions"]
    regions, region = assertion["Assert"]["Fn::Contains"]
    assert region == {"Ref": "AWS::Region"}
    assert regions == supported, "the rule's regions must be the mapping's regions"
    description = assertion["AssertDescription"]
    listed = description.rsplit("Deploy to one of:", 1)[1].strip().rstrip(".").split(", ")
    assert listed == supported
    assert "region you deploy to" in description


def test_sagemaker_jobs_list_only_the_run_and_data_set_prefixes(us_stack: Stack) -> None:
    statements = role_statements(us_stack, "SageMakerExecutionRole")
    (listing,) = _statements_with(statements, "s3:ListBucket")
    assert listing["Resource"] == us_stack.get_att("DataBucket", "Arn")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["runs/*", "datasets/*"]}}


def test_sagemaker_jobs_put_metrics_only_into_sagemaker_namespaces(us_stack: Stack) -> None:
    statements = role_statements(us_stack, "SageMakerExecutionRole")
    (metrics,) = _statements_with(statements, "cloudwatch:PutMetricData")
    assert as_list(metrics["Action"]) == ["cloudwatch:PutMetricData"], (
        "the condition is for this action alone"
    )
    assert metrics["Condition"] == {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}


def test_every_function_that_lists_the_bucket_names_its_prefixes(us_stack: Stack) -> None:
    for logical_id, resource in us_stack.resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in _statements_with(
                as_list(us_stack.resolve(policy["Statement"])), "s3:ListBucket"
            ):
                prefixes = as_list(statement["Condition"]["StringLike"]["s3:prefix"])
                assert prefixes and all(p.endswith("/*") and p != "/*" for p in prefixes), logical_id


# --- names start with the stack's token, so grants name <token>-* ----------------------------------------

TAG_KEYS = ["xgboost-tuning:stack", "xgboost-tuning:run"]
CREATE_STATES = {
    TUNING_STATE: ("HyperParameterTuningJobName", 32),
    SAVE_MODEL_STATE: ("ModelName", 63),
    TRANSFORM_STATE: ("TransformJobName", 63),
}
LONGEST_STACK_NAME = "s" + "x" * 127  # CloudFormation's limit is 128 characters


def _token(stack: Stack) -> str:
    env = stack.resources["GenerateDatasetFunction"]["Properties"]["Environment"]["Variables"]
    return str(stack.resolve(env["STACK_TOKEN"]))


def test_the_stack_token_is_the_first_group_of_the_stack_id_for_any_stack_name(
    template: dict[str, Any],
) -> None:
    for name in ("sagemaker-xgboost-tuning", "a", LONGEST_STACK_NAME):
        stack = Stack(template, name=name)
        stack_uuid = stack.ref("AWS::StackId").rsplit("/", 1)[1]
        assert _token(stack) == stack_uuid.split("-")[0]
        assert re.fullmatch(r"[0-9a-f]{8}", _token(stack))
        assert stack.resolve(stack.template["Outputs"]["StackToken"]["Value"]) == _token(stack)


def test_every_job_and_model_name_starts_with_the_stack_token_within_sagemaker_limits(
    us_executions: dict[str, Run],
) -> None:
    for execution, run in us_executions.items():
        token = _token(run.stack)
        assert run.status == "SUCCEEDED", (execution, run.cause)
        for state, (key, limit) in CREATE_STATES.items():
            name = run.calls[state][1][key]
            assert name.startswith(f"{token}-"), (execution, state, name)
            assert len(name) <= limit and JOB_NAME.fullmatch(name), (execution, state, name)
        assert run.output["dataset"]["prefix"] == f"runs/{run.output['dataset']['runName']}/"


def test_sagemaker_grants_of_the_state_machine_name_only_the_stack_jobs(console_run: Run) -> None:
    stack = console_run.stack
    token = _token(stack)
    statements = role_statements(stack, "StateMachineRole")
    scoped = [s for s in statements if any(a.startswith("sagemaker:") for a in as_list(s["Action"]))]
    kinds = {"hyper-parameter-tuning-job", "model", "transform-job"}
    for statement in scoped:
        if as_list(statement["Action"]) == ["sagemaker:ListTags"]:
            assert statement["Resource"] == "*"  # ListTags takes no narrower resource
            continue
        if as_list(statement["Action"]) == ["sagemaker:CreateModelPackage"]:
            # The registry: the stack's own model package group (named from the stack) and its versions.
            group = f"{stack.name}-models"
            assert sorted(as_list(statement["Resource"])) == sorted(
                [
                    stack.arn("sagemaker", f"model-package-group/{group}"),
                    stack.arn("sagemaker", f"model-package/{group}/*"),
                ]
            )
            continue
        for resource in as_list(statement["Resource"]):
            prefix = stack.arn("sagemaker", "")
            assert resource.startswith(prefix), resource
            kind, _, name = resource.removeprefix(prefix).partition("/")
            assert kind in kinds and name == f"{token}-*", resource
    # Another stack's job (another token) is not covered.
    other = stack.arn("sagemaker", "hyper-parameter-tuning-job/0badc0de-nightly-0123456789ab")
    assert not allowing_statements(statements, "sagemaker:DescribeHyperParameterTuningJob", other)
    assert not allowing_statements(
        statements, "sagemaker:StopTransformJob", other.replace("hyper-parameter-tuning", "transform")
    )


def test_extract_model_path_reads_only_the_stack_jobs(console_run: Run) -> None:
    stack = console_run.stack
    token = _token(stack)
    statements = [
        s
        for policy in stack.resources["ExtractModelPathFunction"]["Properties"]["Policies"]
        for s in as_list(stack.resolve(policy["Statement"]))
        if any(a.startswith("sagemaker:") for a in as_list(s["Action"]))
    ]
    assert {s["Resource"] for s in statements} == {
        stack.arn("sagemaker", f"training-job/{token}-*"),
        stack.arn("sagemaker", f"hyper-parameter-tuning-job/{token}-*"),
    }
    best = console_run.output["tuning"]["bestTrainingJobName"]
    assert allowing_statements(
        statements, "sagemaker:DescribeTrainingJob", stack.arn("sagemaker", f"training-job/{best}")
    )


def test_every_sagemaker_resource_is_created_with_the_stack_and_run_tags(console_run: Run) -> None:
    stack = console_run.stack
    run_name = console_run.output["dataset"]["runName"]
    for state in CREATE_STATES:
        tags = console_run.calls[state][1]["Tags"]
        assert tags == [
            {"Key": "xgboost-tuning:stack", "Value": stack.name},
            {"Key": "xgboost-tuning:run", "Value": run_name},
        ], state
        # What the emulator received is what the integration sent (SageMaker copies a tuning job's tags to
        # its training jobs).
        assert console_run.sagemaker_requests[state][1]["Tags"] == tags, state


def test_the_registry_group_carries_the_stack_tag_and_each_package_names_its_run(console_run: Run) -> None:
    # CreateModelPackage refuses Tags together with ModelPackageGroupName (a version takes its group's tags,
    # botocore's documentation of CreateModelPackage.Tags): the group is tagged by CloudFormation, the run is
    # named in the package's metadata.
    stack = console_run.stack
    group = stack.resources["ModelPackageGroup"]["Properties"]
    assert [stack.resolve(tag) for tag in group["Tags"]] == [
        {"Key": "xgboost-tuning:stack", "Value": stack.name}
    ]
    request = console_run.calls["Register Model"][1]
    assert "Tags" not in request
    assert request["CustomerMetadataProperties"]["runName"] == console_run.output["dataset"]["runName"]


def test_add_tags_is_allowed_only_at_creation_with_the_run_tags(console_run: Run) -> None:
    stack = console_run.stack
    statements = role_statements(stack, "StateMachineRole")
    tagging = _statements_with(statements, "sagemaker:AddTags")
    assert len(tagging) == 1, "AddTags shares its conditions with no other action"
    (statement,) = tagging
    assert as_list(statement["Action"]) == ["sagemaker:AddTags"]
    assert statement["Condition"] == {
        "StringEquals": {
            "sagemaker:TaggingAction": ["CreateHyperParameterTuningJob", "CreateModel", "CreateTransformJob"],
            "aws:RequestTag/xgboost-tuning:stack": stack.name,
        },
        "ForAllValues:StringEquals": {"aws:TagKeys": TAG_KEYS},
    }
    sent = {tag["Key"] for state in CREATE_STATES for tag in console_run.calls[state][1]["Tags"]}
    assert sent == set(TAG_KEYS)
