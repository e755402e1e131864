"""The template's parameters, bucket, functions, state machine and outputs, set up as the project intends."""

from __future__ import annotations

import re
from typing import Any

import pytest

from offline.template import Stack


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _merged(inherited: Any, own: Any) -> Any:
    """SAM's Globals rules: maps merge, lists concatenate, a resource's own scalar wins."""
    if isinstance(inherited, dict) and isinstance(own, dict):
        return {
            key: _merged(inherited[key], own[key])
            if key in inherited and key in own
            else own.get(key, inherited.get(key))
            for key in inherited | own
        }
    if isinstance(inherited, list) and isinstance(own, list):
        return inherited + own
    return own


def _function_settings(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """A function's properties with the Globals it inherits."""
    return _merged(
        template.get("Globals", {}).get("Function", {}), template["Resources"][logical_id]["Properties"]
    )


def test_every_parameter_has_a_default_a_description_and_a_constraint(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert parameters
    for name, spec in parameters.items():
        assert "Default" in spec and spec.get("Description"), name
        if "AllowedValues" in spec:
            assert spec["Default"] in spec["AllowedValues"], name
        elif "AllowedPattern" in spec:
            # CloudFormation matches the whole value (Java regex), every item of a CommaDelimitedList; the
            # default must match too.
            assert spec.get("Type") in ("String", "CommaDelimitedList"), name
            assert spec.get("ConstraintDescription"), name
            items = spec["Default"].split(",") if spec["Type"] == "CommaDelimitedList" else [spec["Default"]]
            assert all(re.fullmatch(spec["AllowedPattern"], item) for item in items), name
        else:
            assert spec.get("Type") == "Number" and {"MinValue", "MaxValue"} <= set(spec), name
            assert spec["MinValue"] <= spec["Default"] <= spec["MaxValue"], name
    assert parameters["MaxParallelTrainingJobs"]["Default"] <= parameters["MaxTrainingJobs"]["Default"]


def test_data_bucket_is_hardened_and_retained(template: dict[str, Any]) -> None:
    (bucket,) = _resources(template, "AWS::S3::Bucket").values()
    props = bucket["Properties"]
    assert "BucketName" not in props, "a fixed name collides across stacks and accounts"
    assert bucket.get("DeletionPolicy") == "Retain" and bucket.get("UpdateReplacePolicy") == "Retain"
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in (
        "AES256",
        "aws:kms",
        "aws:kms:dsse",
    )
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = props["LifecycleConfiguration"]["Rules"]
    assert all(rule["Status"] == "Enabled" for rule in rules)
    assert any("NoncurrentVersionExpiration" in rule for rule in rules)
    assert any("AbortIncompleteMultipartUpload" in rule for rule in rules)


def test_bucket_policy_denies_insecure_transport(us_stack: Stack) -> None:
    (policy,) = _resources(us_stack.template, "AWS::S3::BucketPolicy").values()
    assert policy["Properties"]["Bucket"] == {"Ref": "DataBucket"}
    document = us_stack.resolve(policy["Properties"]["PolicyDocument"])
    bucket_arn = us_stack.get_att("DataBucket", "Arn")
    deny = [s for s in document["Statement"] if s.get("Sid") == "DenyInsecureTransport"]
    assert len(deny) == 1
    (statement,) = deny
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
    assert sorted(statement["Resource"]) == sorted([bucket_arn, f"{bucket_arn}/*"])
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_functions_run_python313_on_arm64_with_json_logs(template: dict[str, Any]) -> None:
    functions = _resources(template, "AWS::Serverless::Function")
    assert len(functions) == 4
    # arm64 unless the stack says x86_64 (which runs natively under `sam local invoke` on an x86_64 machine).
    architecture = template["Parameters"]["FunctionArchitecture"]
    assert architecture["Default"] == "arm64" and architecture["AllowedValues"] == ["arm64", "x86_64"]
    for name in functions:
        settings = _function_settings(template, name)
        assert settings["Runtime"] == "python3.13", name
        assert settings["Architectures"] == [{"Ref": "FunctionArchitecture"}], name
        assert settings["Handler"] == "app.lambda_handler", name
        assert settings["LoggingConfig"]["LogFormat"] == "JSON", name
        assert isinstance(settings.get("Timeout"), int) and isinstance(settings.get("MemorySize"), int), name


def test_every_function_logs_to_its_own_group_with_retention(template: dict[str, Any]) -> None:
    groups = []
    for name in _resources(template, "AWS::Serverless::Function"):
        reference = _function_settings(template, name)["LoggingConfig"].get("LogGroup")
        assert isinstance(reference, dict) and set(reference) == {"Ref"}, (
            f"{name} logs to no group of the stack"
        )
        group = template["Resources"][reference["Ref"]]
        assert group["Type"] == "AWS::Logs::LogGroup", name
        assert group["Properties"].get("RetentionInDays") == {"Ref": "LogRetentionInDays"}, name
        groups.append(reference["Ref"])
    assert len(groups) == len(set(groups)), "functions share a log group"


def test_state_machine_is_standard_logs_everything_and_traces(template: dict[str, Any]) -> None:
    (machine,) = _resources(template, "AWS::Serverless::StateMachine").values()
    props = machine["Properties"]
    assert props["Type"] == "STANDARD", ".sync tasks need a STANDARD workflow"
    assert props["DefinitionUri"] == "statemachine/tuning.asl.json"
    assert props["Tracing"] == {"Enabled": True}
    logging = props["Logging"]
    assert logging["Level"] == "ALL" and logging["IncludeExecutionData"] is True
    (destination,) = logging["Destinations"]
    group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    group = template["Resources"][group_id]["Properties"]
    assert group["LogGroupName"]["Fn::Sub"].startswith("/aws/vendedlogs/states/")
    assert group.get("RetentionInDays") == {"Ref": "LogRetentionInDays"}


def test_every_output_has_a_description(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {"TuningStateMachineArn", "DataBucketName"} <= set(outputs)
    assert [name for name, output in outputs.items() if not output.get("Description")] == []


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        ("1.5", True),
        ("0.25", True),
        ("10", True),
        ("0", False),
        ("0.0", False),
        ("-1", False),
        ("1e3", False),
    ],
)
def test_max_test_rmse_accepts_only_empty_or_a_number_above_zero(
    template: dict[str, Any], value: str, accepted: bool
) -> None:
    pattern = template["Parameters"]["MaxTestRmse"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is accepted
