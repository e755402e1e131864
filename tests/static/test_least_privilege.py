"""Least privilege, round two: conditions on the grants that take no narrower resource, the region rule and
the console link of every partition."""

from __future__ import annotations

from typing import Any

from offline.template import Stack
from tests.static.support import as_list, role_statements

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
