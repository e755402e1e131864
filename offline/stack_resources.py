"""The template's resources in moto, before a run: the data bucket, the roles, the model registry's groups and
the state machine, under a fake AWS environment that no client can leave."""

from __future__ import annotations

import json
import os
from typing import Any

from offline.errors import OfflineRunError
from offline.template import STATE_MACHINE_LOGICAL_ID, Stack

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


def bucket_logical_id(stack: Stack) -> str:
    buckets = [k for k, r in stack.resources.items() if r.get("Type") == "AWS::S3::Bucket"]
    if len(buckets) != 1:
        raise OfflineRunError(f"expected one AWS::S3::Bucket in the template, found {buckets}")
    return buckets[0]


def create_bucket(s3: Any, bucket: str, region: str) -> None:
    """A bucket in ``region``: us-east-1 takes no location constraint, every other region needs one."""
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})


def create_roles(stack: Stack, iam: Any) -> None:
    """The template's roles, and the role SAM creates for each function."""
    for logical_id, resource in stack.resources.items():
        kind = resource.get("Type")
        if kind == "AWS::IAM::Role":
            document = stack.resolve((resource.get("Properties") or {}).get("AssumeRolePolicyDocument"))
            iam.create_role(
                RoleName=stack.physical_name(logical_id), AssumeRolePolicyDocument=json.dumps(document)
            )
        elif kind == "AWS::Serverless::Function":
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
            iam.create_role(
                RoleName=stack.physical_name(f"{logical_id}Role"), AssumeRolePolicyDocument=json.dumps(trust)
            )


def create_model_package_groups(stack: Stack) -> None:
    """The template's model registry groups, in moto's SageMaker (the AWS SDK tasks' backend)."""
    groups = [r for r in stack.resources.values() if r.get("Type") == "AWS::SageMaker::ModelPackageGroup"]
    if not groups:
        return
    import boto3

    sagemaker = boto3.client("sagemaker", region_name=stack.region)
    for resource in groups:
        props = stack.resolve(resource.get("Properties") or {})
        sagemaker.create_model_package_group(
            ModelPackageGroupName=props["ModelPackageGroupName"],
            ModelPackageGroupDescription=props.get("ModelPackageGroupDescription", ""),
        )


def create_state_machine(stack: Stack, sfn: Any, definition_text: str) -> str:
    """The template's state machine with the substituted definition; returns its ARN."""
    props = stack.resources[STATE_MACHINE_LOGICAL_ID].get("Properties") or {}
    created = sfn.create_state_machine(
        name=stack.get_att(STATE_MACHINE_LOGICAL_ID, "Name"),
        definition=definition_text,
        roleArn=str(stack.resolve(props.get("Role"))),
        type=str(props.get("Type", "STANDARD")),
    )
    return created["stateMachineArn"]
