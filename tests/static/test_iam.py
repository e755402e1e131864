"""Least privilege: the roles allow what the workflow does, and nothing broader."""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

import pytest

from offline.template import Stack
from tests.static.support import (
    EVALUATE_STATE,
    GENERATE_STATE,
    TRANSFORM_STATE,
    TUNING_STATE,
    Run,
    allowing_statements,
    as_list,
    glob_matches,
    role_statements,
)

# The only actions that may be granted on Resource "*": the IAM service reference lists no resource type
# for them, so no narrower resource exists.
STAR_RESOURCE_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "sagemaker:ListTags",
    "sagemaker:ListHyperParameterTuningJobs",
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
}
# Optimized SageMaker integrations: the job's ARN type, the request key naming it, the API noun, the
# EventBridge rule a .sync task manages.
SAGEMAKER_JOBS = {
    "createHyperParameterTuningJob": (
        "hyper-parameter-tuning-job",
        "HyperParameterTuningJobName",
        "HyperParameterTuningJob",
        "TuningJobs",
    ),
    "createTransformJob": ("transform-job", "TransformJobName", "TransformJob", "TransformJobs"),
    "createTrainingJob": ("training-job", "TrainingJobName", "TrainingJob", "TrainingJobs"),
    "createModel": ("model", "ModelName", "Model", None),
}
PASSED_ROLE_KEYS = ("RoleArn", "ExecutionRoleArn")


def _required_permissions(stack: Stack, resource: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """(action, resource ARN) pairs Step Functions needs to run one task with these parameters."""
    if re.fullmatch(r"arn:[a-z-]+:states:::aws-sdk:sagemaker:createModelPackage", resource):
        # The AWS SDK integration calls the API as the role: a new version in the group, named lower-case.
        group = params["ModelPackageGroupName"].lower()
        return [
            ("sagemaker:CreateModelPackage", stack.arn("sagemaker", f"model-package-group/{group}")),
            ("sagemaker:CreateModelPackage", stack.arn("sagemaker", f"model-package/{group}/1")),
        ]
    if re.fullmatch(r"arn:[a-z-]+:states:::aws-sdk:sagemaker:listTrainingJobsFor[A-Za-z]+", resource):
        tuning_job = params["HyperParameterTuningJobName"].lower()
        return [
            (
                "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
                stack.arn("sagemaker", f"hyper-parameter-tuning-job/{tuning_job}"),
            )
        ]
    match = re.fullmatch(r"arn:[a-z-]+:states:::([a-z]+):([A-Za-z]+)(\.sync)?", resource)
    assert match, f"unknown integration {resource}: add its IAM actions to this test"
    service, action, sync = match.groups()
    if (service, action) == ("lambda", "invoke"):
        return [("lambda:InvokeFunction", params["FunctionName"])]
    assert service == "sagemaker" and action in SAGEMAKER_JOBS, (
        f"add the IAM actions of {resource} to this test"
    )
    arn_type, name_key, noun, rule = SAGEMAKER_JOBS[action]
    job = stack.arn("sagemaker", f"{arn_type}/{params[name_key].lower()}")  # ARNs carry names in lower case
    needed = [(f"sagemaker:Create{noun}", job), ("sagemaker:AddTags", job)]
    if sync:
        needed += [
            (f"sagemaker:Describe{noun}", job),
            (f"sagemaker:Stop{noun}", job),
            ("sagemaker:ListTags", job),
        ]
        rule_arn = stack.arn("events", f"rule/StepFunctionsGetEventsForSageMaker{rule}Rule")
        needed += [(f"events:{verb}", rule_arn) for verb in ("PutTargets", "PutRule", "DescribeRule")]
    return needed


def _passed_roles(params: Any) -> list[str]:
    if isinstance(params, dict):
        found = [value for key, value in params.items() if key in PASSED_ROLE_KEYS and isinstance(value, str)]
        return found + [role for value in params.values() for role in _passed_roles(value)]
    if isinstance(params, list):
        return [role for value in params for role in _passed_roles(value)]
    return []


def _all_policy_documents(stack: Stack) -> dict[str, dict[str, Any]]:
    """Every policy the template writes, by a readable name, intrinsics resolved."""
    documents = {}
    for logical_id, resource in stack.resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                documents[f"{logical_id}/{policy['PolicyName']}"] = stack.resolve(policy["PolicyDocument"])
        elif resource["Type"] == "AWS::Serverless::Function":
            for index, policy in enumerate(props.get("Policies", [])):
                assert isinstance(policy, dict) and set(policy) == {"Statement"}, (
                    f"{logical_id}: write exact statements, not SAM policy templates: {policy}"
                )
                documents[f"{logical_id}/{index}"] = {
                    "Version": "2012-10-17",
                    "Statement": stack.resolve(policy["Statement"]),
                }
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::S3::BucketPolicy"):
            documents[logical_id] = stack.resolve(props["PolicyDocument"])
    return documents


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return as_list(document["Statement"])


def _function_statements(stack: Stack, logical_id: str) -> list[dict[str, Any]]:
    policies = stack.resources[logical_id]["Properties"].get("Policies", [])
    return [statement for policy in policies for statement in as_list(stack.resolve(policy["Statement"]))]


def test_state_machine_role_allows_every_call_of_the_definition(
    console_run: Run, hyperband_spot_run: Run
) -> None:
    stack = console_run.stack
    statements = role_statements(stack, "StateMachineRole")
    assert stack.resources["TuningStateMachine"]["Properties"]["Role"] == {
        "Fn::GetAtt": ["StateMachineRole", "Arn"]
    }
    calls = list(console_run.calls.items())
    assert "Evaluate Model" in console_run.calls
    if hyperband_spot_run.stack.region == stack.region:  # the Hyperband execution runs in us-east-1
        calls += hyperband_spot_run.calls.items()
        assert hyperband_spot_run.calls["HyperparameterTuning (XGBoost)"]
    missing = [
        (state, action, arn)
        for state, (resource, params) in calls
        for action, arn in _required_permissions(stack, resource, params)
        if not allowing_statements(statements, action, arn)
    ]
    assert missing == []
    assert not [s for s in statements if s.get("Effect") == "Deny"], "a Deny would need evaluating here"


def test_state_machine_role_allows_reading_a_failed_tuning_jobs_training_jobs_of_this_stack_only(
    console_run: Run, state_machine_definition: dict[str, Any]
) -> None:
    # Read Training Job Failure runs only when the tuning job failed: its request, for this run's job.
    stack = console_run.stack
    state = state_machine_definition["States"]["Read Training Job Failure"]
    resource = state["Resource"].replace("${Partition}", stack.partition)
    params = {key: value for key, value in state["Parameters"].items() if not key.endswith(".$")}
    params["HyperParameterTuningJobName"] = console_run.output["dataset"]["tuningJobName"]
    statements = role_statements(stack, "StateMachineRole")

    needed = _required_permissions(stack, resource, params)

    assert needed and all(allowing_statements(statements, action, arn) for action, arn in needed)
    other = stack.arn("sagemaker", "hyper-parameter-tuning-job/0badc0de-nightly-0123456789ab")
    assert not allowing_statements(statements, "sagemaker:ListTrainingJobsForHyperParameterTuningJob", other)


def test_state_machine_may_pass_only_the_sagemaker_execution_role_only_to_sagemaker(console_run: Run) -> None:
    stack = console_run.stack
    statements = role_statements(stack, "StateMachineRole")
    execution_role = stack.get_att("SageMakerExecutionRole", "Arn")
    passed = {role for _, params in console_run.calls.values() for role in _passed_roles(params)}
    assert passed == {execution_role}
    pass_role = [
        s
        for s in statements
        if any(glob_matches(a, "iam:PassRole", case_sensitive=False) for a in as_list(s["Action"]))
    ]
    assert len(pass_role) == 1
    (statement,) = pass_role
    assert as_list(statement["Resource"]) == [execution_role]
    assert statement.get("Condition") == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert as_list(statement["Action"]) == ["iam:PassRole"], (
        "PassRole shares its condition with no other action"
    )


def test_sagemaker_jobs_may_read_the_run_data_write_their_output_and_pull_the_image(console_run: Run) -> None:
    stack = console_run.stack
    statements = role_statements(stack, "SageMakerExecutionRole")
    bucket_arn = stack.get_att("DataBucket", "Arn")
    written = console_run.written_by
    model = console_run.output["tuning"]["modelDataUrl"].removeprefix(f"s3://{console_run.bucket}/")
    assert model in written[TUNING_STATE], "the best model is one the tuning job's training jobs wrote"
    assert written[TRANSFORM_STATE], "the transform job wrote no predictions"
    needed = [("s3:ListBucket", bucket_arn)]
    # Training jobs read the data set and write their models; the transform job reads the test features
    # and a model, and writes the predictions.
    needed += [("s3:GetObject", f"{bucket_arn}/{key}") for key in written[GENERATE_STATE]]
    needed += [("s3:PutObject", f"{bucket_arn}/{key}") for key in written[TUNING_STATE]]
    needed += [("s3:GetObject", f"{bucket_arn}/{model}")]
    needed += [("s3:PutObject", f"{bucket_arn}/{key}") for key in written[TRANSFORM_STATE]]
    image = console_run.sagemaker_requests[TUNING_STATE][1]["TrainingJobDefinition"][
        "AlgorithmSpecification"
    ]["TrainingImage"]
    account, _, _, region, *_ = image.split(".")
    repository = image.split("/", 1)[1].split(":", 1)[0]
    repository_arn = f"arn:{stack.partition}:ecr:{region}:{account}:repository/{repository}"
    needed += [
        (f"ecr:{a}", repository_arn)
        for a in ("BatchCheckLayerAvailability", "GetDownloadUrlForLayer", "BatchGetImage")
    ]
    needed += [("ecr:GetAuthorizationToken", "*"), ("cloudwatch:PutMetricData", "*")]
    log_stream = stack.arn("logs", "log-group:/aws/sagemaker/TrainingJobs:log-stream:job/algo-1-1795860000")
    needed += [(f"logs:{a}", log_stream) for a in ("CreateLogStream", "PutLogEvents", "DescribeLogStreams")]
    needed += [("logs:CreateLogGroup", stack.arn("logs", "log-group:/aws/sagemaker/TransformJobs"))]
    missing = [(action, arn) for action, arn in needed if not allowing_statements(statements, action, arn)]
    assert missing == []
    # ... and no other bucket's objects, nor this bucket's outside runs/.
    assert not allowing_statements(statements, "s3:GetObject", f"{bucket_arn}/private/report.csv")
    assert not allowing_statements(statements, "s3:GetObject", "arn:aws:s3:::another-bucket/runs/x/train.csv")


def test_roles_trust_only_their_service_from_this_account(stack: Stack) -> None:
    # Service principals are <service>.amazonaws.com in every partition, China's included: SAM writes
    # states.amazonaws.com into the state machine roles it generates, whatever the region.
    trusted = {
        "StateMachineRole": "states.amazonaws.com",
        "SageMakerExecutionRole": "sagemaker.amazonaws.com",
    }
    for logical_id, service in trusted.items():
        document = stack.resolve(stack.resources[logical_id]["Properties"]["AssumeRolePolicyDocument"])
        (statement,) = _statements(document)
        assert statement["Principal"] == {"Service": service}, logical_id
        assert statement["Action"] == "sts:AssumeRole"
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": stack.account_id}}


def test_only_allow_listed_actions_are_granted_on_every_resource(stack: Stack) -> None:
    offending = {}
    for name, document in _all_policy_documents(stack).items():
        for statement in _statements(document):
            if statement.get("Effect") == "Allow" and "*" in as_list(statement.get("Resource", [])):
                extra = set(as_list(statement["Action"])) - STAR_RESOURCE_ACTIONS
                if extra:
                    offending[f"{name}/{statement.get('Sid', '?')}"] = sorted(extra)
    assert offending == {}


def test_no_statement_allows_action_wildcards_or_negations(stack: Stack) -> None:
    for name, document in _all_policy_documents(stack).items():
        for statement in _statements(document):
            assert not {"NotAction", "NotResource", "NotPrincipal"} & set(statement), name
            if statement["Effect"] == "Allow":
                wildcards = [a for a in as_list(statement["Action"]) if "*" in a or "?" in a]
                assert wildcards == [], f"{name}: {wildcards}"


def test_generate_dataset_may_write_run_data_and_read_only_the_datasets_prefix(console_run: Run) -> None:
    stack = console_run.stack
    statements = _function_statements(stack, "GenerateDatasetFunction")
    bucket_arn = stack.get_att("DataBucket", "Arn")
    grants = {(a, r) for s in statements for a in as_list(s["Action"]) for r in as_list(s["Resource"])}
    token = console_run.output["dataset"]["tuningJobName"].split("-", 1)[0]
    assert grants == {
        ("s3:PutObject", f"{bucket_arn}/runs/*"),
        ("s3:AbortMultipartUpload", f"{bucket_arn}/runs/*"),
        ("s3:DeleteObject", f"{bucket_arn}/runs/*"),
        # Your own data in the project bucket (own_data.DATASETS_PREFIX): listed there, read there only.
        ("s3:ListBucket", bucket_arn),
        ("s3:GetObject", f"{bucket_arn}/datasets/*"),
        # warmStart: the stack's own tuning jobs described; "previous" lists them (no narrower resource).
        (
            "sagemaker:DescribeHyperParameterTuningJob",
            stack.arn("sagemaker", f"hyper-parameter-tuning-job/{token}-*"),
        ),
        ("sagemaker:ListHyperParameterTuningJobs", "*"),
    }
    (listing,) = [s for s in statements if s["Action"] == "s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "datasets/*"}}
    assert all(s["Effect"] == "Allow" for s in statements)
    # Every object the function wrote is within that grant.
    assert console_run.written_by[GENERATE_STATE]
    for key in console_run.written_by[GENERATE_STATE]:
        assert allowing_statements(statements, "s3:PutObject", f"{bucket_arn}/{key}"), key
    assert not allowing_statements(statements, "s3:GetObject", f"{bucket_arn}/runs/x/data/train/train.csv")


def _attached_policies(stack: Stack) -> dict[str, tuple[list[str], dict[str, Any]]]:
    """AWS::IAM::Policy resources of the stack: logical id -> (role names, document)."""
    return {
        logical_id: (
            stack.resolve(r["Properties"]["Roles"]),
            stack.resolve(r["Properties"]["PolicyDocument"]),
        )
        for logical_id, r in stack.resources.items()
        if r["Type"] == "AWS::IAM::Policy"
    }


def test_own_data_under_datasets_in_the_project_bucket_is_readable_by_the_function_and_sagemaker(
    stack: Stack,
) -> None:
    bucket_arn = stack.get_att("DataBucket", "Arn")
    train = f"{bucket_arn}/datasets/housing/train.csv"
    function = _function_statements(stack, "GenerateDatasetFunction")
    sagemaker = role_statements(stack, "SageMakerExecutionRole")
    for statements in (function, sagemaker):
        assert allowing_statements(statements, "s3:GetObject", train)
        assert allowing_statements(statements, "s3:ListBucket", bucket_arn)
        assert not allowing_statements(statements, "s3:PutObject", train), "your data is read, never written"
        assert not allowing_statements(statements, "s3:GetObject", f"{bucket_arn}/uploads/train.csv")


def test_no_external_bucket_is_readable_unless_external_data_buckets_lists_it(stack: Stack) -> None:
    assert stack.parameters["ExternalDataBuckets"] == ""
    assert _attached_policies(stack) == {}


@pytest.mark.parametrize(
    "buckets",
    [["example-ml-datasets"], ["example-ml-datasets", "team.data-2"], ["a-1", "b-2", "c-3"]],
    ids=["one", "two", "three"],
)
def test_external_data_buckets_are_readable_by_the_first_function_and_sagemaker_only(
    template: dict[str, Any], buckets: list[str], parliament: Any
) -> None:
    stack = Stack(template, "cn-north-1", {"ExternalDataBuckets": ",".join(buckets)})
    policies = _attached_policies(stack)
    roles = {stack.ref("GenerateDatasetFunctionRole"), stack.ref("SageMakerExecutionRole")}
    assert len(policies) == len(buckets)
    statements = []
    for attached_to, document in policies.values():
        assert set(attached_to) == roles
        statements += _statements(document)
        assert parliament.analyze_policy_string(json.dumps(document)).findings == []
    grants = {(s["Action"], s["Resource"]) for s in statements}
    assert grants == {
        *((("s3:ListBucket", f"arn:aws-cn:s3:::{b}")) for b in buckets),
        *((("s3:GetObject", f"arn:aws-cn:s3:::{b}/*")) for b in buckets),
    }
    assert stack.resolve(
        stack.resources["GenerateDatasetFunction"]["Properties"]["Environment"]["Variables"][
            "EXTERNAL_DATA_BUCKETS"
        ]
    ) == ",".join(buckets)


def test_external_data_buckets_parameter_rejects_what_is_not_a_bucket_name(template: dict[str, Any]) -> None:
    from offline.template import TemplateError

    for value in ("Upper-Case", "arn:aws:s3:::bucket", "bucket/prefix", "*", "ab", "ok-bucket,s3://x"):
        with pytest.raises(TemplateError, match="ExternalDataBuckets must match the pattern"):
            Stack(template, "us-east-1", {"ExternalDataBuckets": value})


def test_extract_model_path_may_describe_training_jobs_list_the_tuning_jobs_and_write_run_objects(
    console_run: Run,
) -> None:
    stack = console_run.stack
    statements = _function_statements(stack, "ExtractModelPathFunction")
    actions = {action for s in statements for action in as_list(s["Action"])}
    assert actions == {
        "sagemaker:DescribeTrainingJob",
        "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
        "s3:PutObject",
    }
    best = console_run.output["tuning"]["bestTrainingJobName"]
    assert allowing_statements(
        statements, "sagemaker:DescribeTrainingJob", stack.arn("sagemaker", f"training-job/{best}")
    )
    tuning_job = console_run.output["dataset"]["tuningJobName"]
    assert allowing_statements(
        statements,
        "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
        stack.arn("sagemaker", f"hyper-parameter-tuning-job/{tuning_job}"),
    )
    bucket_arn = stack.get_att("DataBucket", "Arn")
    token = tuning_job.split("-", 1)[0]  # job names start with the stack's token (test_least_privilege.py)
    assert {r for s in statements for r in as_list(s["Resource"])} == {
        stack.arn("sagemaker", f"training-job/{token}-*"),
        stack.arn("sagemaker", f"hyper-parameter-tuning-job/{token}-*"),
        f"{bucket_arn}/runs/*/tuning/*",
    }
    # Each action on its own resource only.
    for statement in statements:
        assert len(as_list(statement["Action"])) == 1, statement
    # The history it wrote is within that grant.
    history_key = console_run.output["tuning"]["trainingJobsUri"].removeprefix(f"s3://{console_run.bucket}/")
    assert history_key in console_run.objects
    assert allowing_statements(statements, "s3:PutObject", f"{bucket_arn}/{history_key}")


def test_evaluate_model_may_read_run_objects_and_write_only_metrics(console_run: Run) -> None:
    stack = console_run.stack
    statements = _function_statements(stack, "EvaluateModelFunction")
    bucket_arn = stack.get_att("DataBucket", "Arn")
    output = console_run.output
    prefix = output["dataset"]["prefix"]
    written = console_run.written_by[EVALUATE_STATE]
    assert written == [f"{prefix}evaluation/metrics.json"]
    assert allowing_statements(statements, "s3:PutObject", f"{bucket_arn}/{written[0]}")
    labels = output["dataset"]["testLabelsUri"].removeprefix(f"s3://{console_run.bucket}/")
    predictions = [k for k in console_run.written_by[TRANSFORM_STATE] if k.endswith(".out")]
    assert predictions
    for key in [labels, *predictions]:
        assert allowing_statements(statements, "s3:GetObject", f"{bucket_arn}/{key}"), key
    (listing,) = allowing_statements(statements, "s3:ListBucket", bucket_arn)
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "runs/*"}}
    # Nothing else: no write outside evaluation/, no delete, no other bucket.
    actions = {action for s in statements for action in as_list(s["Action"])}
    assert actions == {"s3:ListBucket", "s3:GetObject", "s3:PutObject"}
    assert not allowing_statements(
        statements, "s3:PutObject", f"{bucket_arn}/{prefix}predictions/test.csv.out"
    )
    assert not allowing_statements(
        statements, "s3:GetObject", "arn:aws:s3:::another-bucket/runs/x/test.csv.out"
    )


def test_extract_model_name_needs_no_permission(us_stack: Stack) -> None:
    assert us_stack.resources["ExtractModelNameFunction"]["Properties"].get("Policies", []) == []


@pytest.fixture(scope="module")
def parliament() -> Any:
    with warnings.catch_warnings():
        # parliament 1.6.4 imports pkg_resources, which warns that it is deprecated.
        warnings.simplefilter("ignore", UserWarning)
        import parliament

    return parliament


def test_parliament_finds_nothing_in_any_policy(stack: Stack, parliament: Any) -> None:
    documents = _all_policy_documents(stack)
    assert {"StateMachineRole/SageMakerJobs", "SageMakerExecutionRole/DataBucket", "DataBucketPolicy"} <= set(
        documents
    )
    findings = {
        name: [(f.issue, f.detail) for f in parliament.analyze_policy_string(json.dumps(document)).findings]
        for name, document in documents.items()
    }
    assert {name: found for name, found in findings.items() if found} == {}


def test_parliament_would_report_a_broad_grant(parliament: Any) -> None:
    """The check above can fail: parliament flags what this template must never do."""
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sagemaker:CreateModel", "Resource": "*"}],
    }
    issues = {f.issue for f in parliament.analyze_policy_string(json.dumps(document)).findings}
    assert "RESOURCE_STAR" in issues
