"""Notifications: with NotificationEmail set, an e-mail when an execution ends and when executions fail.

The resources exist only when the parameter is set (the NotificationsEnabled condition, evaluated by the
offline resolver as CloudFormation would); their policies let exactly the rule and the alarm publish.
"""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

import pytest

from offline.template import Stack, load_template
from tests.static.support import as_list, glob_matches

EMAIL = "ml-team+tuning@example.org"
NOTIFICATION_RESOURCES = {
    "NotificationKey": "AWS::KMS::Key",
    "NotificationTopic": "AWS::SNS::Topic",
    "NotificationSubscription": "AWS::SNS::Subscription",
    "NotificationTopicPolicy": "AWS::SNS::TopicPolicy",
    "ExecutionStatusRule": "AWS::Events::Rule",
    "FailedExecutionsAlarm": "AWS::CloudWatch::Alarm",
    "UndeliveredNotificationsQueue": "AWS::SQS::Queue",
    "UndeliveredNotificationsQueuePolicy": "AWS::SQS::QueuePolicy",
    "UndeliveredNotificationsAlarm": "AWS::CloudWatch::Alarm",
}
# CloudFormation's longest stack name: the fixed names built from it must stay within their limits.
LONGEST_STACK_NAME = "s" + "x" * 127


@pytest.fixture(scope="module")
def template_data() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module", params=["us-east-1", "cn-north-1", "us-gov-west-1"])
def on(request: pytest.FixtureRequest, template_data: dict[str, Any]) -> Stack:
    return Stack(template_data, region=request.param, overrides={"NotificationEmail": EMAIL})


def props(stack: Stack, logical_id: str) -> dict[str, Any]:
    return stack.resolve(stack.resources[logical_id]["Properties"])


def test_no_notification_resource_exists_without_an_email(template_data: dict[str, Any]) -> None:
    stack = Stack(template_data)

    assert stack.parameters["NotificationEmail"] == ""
    assert stack.condition("NotificationsEnabled") is False
    assert set(NOTIFICATION_RESOURCES) & set(stack.resources) == set()
    # Every other resource is still there, and nothing left refers to a missing one.
    assert {"DataBucket", "TuningStateMachine", "ExtractModelPathFunction"} <= set(stack.resources)
    assert "NotificationTopic" not in json.dumps(dict(stack.resources))


def test_every_notification_resource_and_output_is_conditional(template_data: dict[str, Any]) -> None:
    resources = template_data["Resources"]
    conditional = {name for name, r in resources.items() if r.get("Condition") == "NotificationsEnabled"}

    assert conditional == set(NOTIFICATION_RESOURCES)
    assert {name: resources[name]["Type"] for name in conditional} == NOTIFICATION_RESOURCES
    assert template_data["Outputs"]["NotificationTopicArn"]["Condition"] == "NotificationsEnabled"
    assert template_data["Conditions"]["NotificationsEnabled"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "NotificationEmail"}, ""]}]
    }


def test_an_email_creates_the_topic_its_subscription_the_rule_and_the_alarm(on: Stack) -> None:
    assert on.condition("NotificationsEnabled") is True
    assert {name: on.resources[name]["Type"] for name in NOTIFICATION_RESOURCES} == NOTIFICATION_RESOURCES
    subscription = props(on, "NotificationSubscription")
    assert subscription == {"TopicArn": on.ref("NotificationTopic"), "Protocol": "email", "Endpoint": EMAIL}


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        ("a@b.co", True),
        (EMAIL, True),
        ("first.last@sub.example.co.uk", True),
        ("nobody", False),
        ("a@b", False),
        ("a b@example.org", False),
        ("@example.org", False),
        ("a@@example.org", False),
        ("a@example.org ", False),
    ],
)
def test_notification_email_allows_an_address_or_nothing(
    template_data: dict[str, Any], value: str, accepted: bool
) -> None:
    parameter = template_data["Parameters"]["NotificationEmail"]
    # CloudFormation matches AllowedPattern against the whole value.
    assert bool(re.fullmatch(parameter["AllowedPattern"], value)) is accepted
    assert parameter["Default"] == ""


def test_topic_is_encrypted_with_its_own_rotated_key_that_only_the_publishers_may_use(on: Stack) -> None:
    topic = props(on, "NotificationTopic")
    key = props(on, "NotificationKey")

    # Not alias/aws/sns: EventBridge and CloudWatch cannot use the AWS managed key to publish.
    assert topic["KmsMasterKeyId"] == on.ref("NotificationKey")
    assert key["EnableKeyRotation"] is True
    statements = {s["Sid"]: s for s in as_list(key["KeyPolicy"]["Statement"])}
    assert set(statements) == {
        "AccountAdministersTheKey",
        "RuleEncryptsMessagesForTheTopic",
        "AlarmsEncryptMessagesForTheTopic",
    }
    admin = statements["AccountAdministersTheKey"]
    assert admin["Principal"] == {"AWS": f"arn:{on.partition}:iam::{on.account_id}:root"}
    # Each publisher only for this topic (SNS's encryption context), from this stack's rule or alarms.
    topic_context = {"kms:EncryptionContext:aws:sns:topicArn": on.ref("NotificationTopic")}
    rule = statements["RuleEncryptsMessagesForTheTopic"]
    assert rule["Principal"] == {"Service": "events.amazonaws.com"}
    assert rule["Condition"] == {
        "StringEquals": {"aws:SourceAccount": on.account_id, **topic_context},
        "ArnEquals": {"aws:SourceArn": on.get_att("ExecutionStatusRule", "Arn")},
    }
    alarms = statements["AlarmsEncryptMessagesForTheTopic"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    alarm_pattern = alarms["Condition"]["ArnLike"]["aws:SourceArn"]
    assert alarms["Condition"] == {
        "StringEquals": {"aws:SourceAccount": on.account_id, **topic_context},
        "ArnLike": {"aws:SourceArn": on.arn("cloudwatch", f"alarm:{on.name}-*")},
    }
    for alarm in ("FailedExecutionsAlarm", "UndeliveredNotificationsAlarm"):
        assert glob_matches(alarm_pattern, on.get_att(alarm, "Arn")), alarm
    assert not glob_matches(alarm_pattern, on.arn("cloudwatch", "alarm:another-stack-failed-executions"))
    for statement in (rule, alarms):
        assert sorted(as_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    for statement in statements.values():
        assert statement["Effect"] == "Allow"
        assert "*" not in json.dumps(statement["Principal"])


def test_topic_policy_lets_only_the_rule_and_the_alarm_publish(on: Stack) -> None:
    policy = props(on, "NotificationTopicPolicy")
    topic = on.ref("NotificationTopic")

    assert policy["Topics"] == [topic]
    statements = as_list(policy["PolicyDocument"]["Statement"])
    publishers = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert statement["Action"] == "sns:Publish"
        assert statement["Resource"] == topic
        (service,) = as_list(statement["Principal"]["Service"])
        publishers[service] = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert publishers == {
        "events.amazonaws.com": on.get_att("ExecutionStatusRule", "Arn"),
        "cloudwatch.amazonaws.com": on.get_att("FailedExecutionsAlarm", "Arn"),
    }


def test_rule_matches_only_this_state_machine_ending_and_tells_the_topic(on: Stack) -> None:
    rule = props(on, "ExecutionStatusRule")

    assert rule["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {
            "stateMachineArn": [on.get_att("TuningStateMachine", "Arn")],
            "status": ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"],
        },
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == on.ref("NotificationTopic")
    assert rule.get("State", "ENABLED") == "ENABLED"


def test_the_email_names_the_execution_its_status_and_links_to_it(on: Stack) -> None:
    (target,) = props(on, "ExecutionStatusRule")["Targets"]
    transformer = target["InputTransformer"]
    paths = transformer["InputPathsMap"]
    assert paths == {
        "name": "$.detail.name",
        "status": "$.detail.status",
        "executionArn": "$.detail.executionArn",
        "time": "$.time",
    }
    template = transformer["InputTemplate"]
    # Every placeholder is mapped, and the template filled in is one JSON string: a plain-text e-mail.
    assert set(re.findall(r"<(\w+)>", template)) == set(paths)
    arn = on.arn("states", "execution:TuningStateMachine-x:nightly-1")
    filled = (
        template.replace("<name>", "nightly-1")
        .replace("<status>", "FAILED")
        .replace("<executionArn>", arn)
        .replace("<time>", "2026-11-28T12:00:00Z")
    )
    message = json.loads(filled)
    assert isinstance(message, str)
    assert "nightly-1" in message and "ended FAILED" in message
    host = {"aws": "console.aws.amazon.com", "aws-cn": "console.amazonaws.cn"}.get(
        on.partition, "console.amazonaws-us-gov.com"
    )
    assert f"https://{host}/states/home?region={on.region}#" in message
    assert f"/v2/executions/details/{arn}" in message
    assert f"make report EXECUTION_ARN={arn}" in message


def test_alarm_watches_failed_executions_of_this_state_machine(on: Stack) -> None:
    alarm = props(on, "FailedExecutionsAlarm")

    assert alarm["Namespace"] == "AWS/States"
    assert alarm["MetricName"] == "ExecutionsFailed"
    assert alarm["Dimensions"] == [
        {"Name": "StateMachineArn", "Value": on.get_att("TuningStateMachine", "Arn")}
    ]
    assert alarm["Statistic"] == "Sum"
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    # No execution in a period is no failure.
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [on.ref("NotificationTopic")]


def test_parliament_finds_nothing_in_the_topic_policy(on: Stack) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import parliament

    document = props(on, "NotificationTopicPolicy")["PolicyDocument"]
    findings = parliament.analyze_policy_string(json.dumps(document)).findings
    assert [(f.issue, f.detail) for f in findings] == []


def test_undelivered_status_events_are_retried_then_kept_in_an_encrypted_queue(on: Stack) -> None:
    (target,) = props(on, "ExecutionStatusRule")["Targets"]
    queue_arn = on.get_att("UndeliveredNotificationsQueue", "Arn")
    assert target["DeadLetterConfig"] == {"Arn": queue_arn}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    queue = props(on, "UndeliveredNotificationsQueue")
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600  # SQS's longest
    policy = props(on, "UndeliveredNotificationsQueuePolicy")
    assert policy["Queues"] == [on.ref("UndeliveredNotificationsQueue")]
    (statement,) = as_list(policy["PolicyDocument"]["Statement"])
    assert statement == {
        "Sid": "ExecutionStatusRuleSendsUndelivered",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": on.get_att("ExecutionStatusRule", "Arn")}},
    }


def test_an_alarm_tells_the_address_when_the_rule_fails_to_publish(on: Stack) -> None:
    alarm = props(on, "UndeliveredNotificationsAlarm")
    assert alarm["Namespace"] == "AWS/Events"
    assert alarm["MetricName"] == "FailedInvocations"
    assert alarm["Dimensions"] == [{"Name": "RuleName", "Value": on.ref("ExecutionStatusRule")}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        1,
        "GreaterThanOrEqualToThreshold",
    )
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [on.ref("NotificationTopic")]


def test_fixed_notification_names_fit_their_limits_for_the_longest_stack_name(
    template_data: dict[str, Any],
) -> None:
    stack = Stack(template_data, overrides={"NotificationEmail": EMAIL}, name=LONGEST_STACK_NAME)
    rule = stack.physical_name("ExecutionStatusRule")
    assert re.fullmatch(r"[0-9a-f]{8}-execution-status", rule)
    assert len(rule) <= 64
    assert len(stack.physical_name("NotificationTopic")) <= 256
    for alarm in ("FailedExecutionsAlarm", "UndeliveredNotificationsAlarm"):
        assert len(stack.physical_name(alarm)) <= 255
