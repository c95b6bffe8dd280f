"""Point 5: SNS success/error topics (KMS), the SQS status queue (KMS, TLS-only, DLQ), outputs, and the
documented way to let a client app consume the queue."""

from __future__ import annotations

from typing import Any

from tests.infrastructure.conftest import CONSUMER_ROLE_ARN
from tests.infrastructure.helpers import of_type, one, text


def test_topics_are_encrypted_and_named(service: dict[str, Any]) -> None:
    topics = {
        v["Properties"]["TopicName"]: v["Properties"] for v in of_type(service, "AWS::SNS::Topic").values()
    }
    assert set(topics) == {
        "avatar-training-success",
        "avatar-training-error",
        "avatar-alarms",
        "avatar-training-events",
    }
    for props in topics.values():
        assert "StatusMessagingKey" in text(props["KmsMasterKeyId"])


def test_topic_policies_require_tls(service: dict[str, Any]) -> None:
    policies = of_type(service, "AWS::SNS::TopicPolicy")
    assert len(policies) == 4
    for policy in policies.values():
        assert any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )


def test_status_queue_is_encrypted_with_a_dead_letter_queue(service: dict[str, Any]) -> None:
    queues = {
        v["Properties"]["QueueName"]: v["Properties"] for v in of_type(service, "AWS::SQS::Queue").values()
    }
    assert {"avatar-training-status", "avatar-training-status-dlq"} <= set(queues)
    queue = queues["avatar-training-status"]
    assert "StatusMessagingKey" in text(queue["KmsMasterKeyId"])
    assert "StatusDeadLetterQueue" in text(queue["RedrivePolicy"]["deadLetterTargetArn"])
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert "StatusMessagingKey" in text(queues["avatar-training-status-dlq"]["KmsMasterKeyId"])
    for policy in of_type(service, "AWS::SQS::QueuePolicy").values():
        assert any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )


def test_queue_is_subscribed_to_both_topics_with_raw_delivery(service: dict[str, Any]) -> None:
    subscriptions = [
        v["Properties"]
        for v in of_type(service, "AWS::SNS::Subscription").values()
        if v["Properties"]["Protocol"] == "sqs" and "StatusQueue" in text(v["Properties"]["Endpoint"])
    ]
    assert len(subscriptions) == 2
    assert {text(s["TopicArn"]) for s in subscriptions} == {
        text({"Ref": k})
        for k in of_type(service, "AWS::SNS::Topic")
        if k.startswith(("StatusSuccess", "StatusError"))
    }
    for subscription in subscriptions:
        assert subscription["Protocol"] == "sqs"
        assert subscription["RawMessageDelivery"] is True
        assert "StatusQueue" in text(subscription["Endpoint"])


def test_sns_may_use_the_messaging_key_to_deliver(service: dict[str, Any]) -> None:
    key = one(service, "AWS::KMS::Key", "StatusMessagingKey")
    assert key["EnableKeyRotation"] is True
    principals = text([s.get("Principal") for s in key["KeyPolicy"]["Statement"]])
    assert "sns.amazonaws.com" in principals
    assert "cloudwatch.amazonaws.com" in principals


def test_queue_outputs_and_consume_policy(service: dict[str, Any]) -> None:
    outputs = service["Outputs"]
    for name in (
        "StatusQueueUrl",
        "StatusQueueArn",
        "StatusConsumePolicyArn",
        "SuccessTopicArn",
        "ErrorTopicArn",
    ):
        assert name in outputs
    policy = one(service, "AWS::IAM::ManagedPolicy", "StatusConsumePolicy")
    actions = {
        a
        for s in policy["PolicyDocument"]["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "kms:Decrypt"} <= actions
    assert "sqs:SendMessage" not in actions
    # context statusConsumerRoleArns attaches it to the listed roles
    assert policy["Roles"] == [CONSUMER_ROLE_ARN.rsplit("/", 1)[1]]
