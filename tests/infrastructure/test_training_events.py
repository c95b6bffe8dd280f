"""Training events: the events topic (KMS, TLS), the status consumer's queue (KMS, DLQ) on the
success/error topics with raw delivery, its function (SQS event source with partial batch failures),
least-privilege grants, alarms and outputs (the event attributes themselves are tested with the code)."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import ConfigError, ServiceConfig
from tests.infrastructure.helpers import actions_of, of_type, one, statements, text


def _queues(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        v["Properties"]["QueueName"]: v["Properties"] for v in of_type(service, "AWS::SQS::Queue").values()
    }


def test_events_topic_is_encrypted(service: dict[str, Any]) -> None:
    (topic,) = [
        v["Properties"]
        for v in of_type(service, "AWS::SNS::Topic").values()
        if v["Properties"]["TopicName"] == "avatar-training-events"
    ]
    assert "StatusMessagingKey" in text(topic["KmsMasterKeyId"])


def test_consumer_queue_is_encrypted_with_a_dead_letter_queue(service: dict[str, Any]) -> None:
    queues = _queues(service)
    queue = queues["avatar-status-events"]
    assert "StatusMessagingKey" in text(queue["KmsMasterKeyId"])
    assert "EventsDeadLetterQueue" in text(queue["RedrivePolicy"]["deadLetterTargetArn"])
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["VisibilityTimeout"] >= 6 * 60
    assert "StatusMessagingKey" in text(queues["avatar-status-events-dlq"]["KmsMasterKeyId"])


def test_consumer_queue_gets_the_error_topic_raw_and_successes_from_the_publisher(
    service: dict[str, Any],
) -> None:
    subscriptions = [
        v["Properties"]
        for v in of_type(service, "AWS::SNS::Subscription").values()
        if "EventsQueue" in text(v["Properties"]["Endpoint"])
    ]
    assert sorted(text(s["TopicArn"]) for s in subscriptions) == sorted(
        text({"Ref": k}) for k in of_type(service, "AWS::SNS::Topic") if k.startswith("StatusError")
    )
    assert all(s["RawMessageDelivery"] is True and s["Protocol"] == "sqs" for s in subscriptions)
    # issue 21 M1: successes reach the consumer only after the publisher's verdict
    publisher = [s for s in statements(service, "PublisherRole") if "sqs:SendMessage" in actions_of(s)]
    assert len(publisher) == 1 and "EventsQueue" in text(publisher[0]["Resource"])


def test_consumer_function_reports_partial_batch_failures(service: dict[str, Any]) -> None:
    (function,) = [
        v["Properties"]
        for v in of_type(service, "AWS::Lambda::Function").values()
        if v["Properties"].get("FunctionName") == "avatar-status-events"
    ]
    assert function["Handler"] == "avatar_api.handlers.status_events.lambda_handler"
    assert "EventsTopic" in text(function["Environment"]["Variables"]["AVATAR_EVENTS_TOPIC_ARN"])
    (mapping,) = [
        m for k, m in of_type(service, "AWS::Lambda::EventSourceMapping").items() if k.startswith("Events")
    ]
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "EventsQueue" in text(mapping["Properties"]["EventSourceArn"])


def test_consumer_concurrency_is_bounded_by_its_event_source(service: dict[str, Any]) -> None:
    """Issue 21 L10: the one function without reserved concurrency has a maximum concurrency instead."""
    (mapping,) = [
        m
        for m in of_type(service, "AWS::Lambda::EventSourceMapping").values()
        if "EventsQueue" in text(m["Properties"]["EventSourceArn"])
    ]
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 5}  # statusEventsMaxConcurrency


def test_consumer_concurrency_setting_is_validated() -> None:
    with pytest.raises(ConfigError, match="statusEventsMaxConcurrency"):
        ServiceConfig.from_context({"statusEventsMaxConcurrency": 1})  # SQS's floor is 2
    config = ServiceConfig.from_context({"statusEventsMaxConcurrency": "20"})
    assert config.status_events_max_concurrency == 20


def test_consumer_role_is_least_privilege(service: dict[str, Any]) -> None:
    statements = [
        s
        for k, v in of_type(service, "AWS::IAM::Policy").items()
        if k.startswith("EventsRole")
        for s in v["Properties"]["PolicyDocument"]["Statement"]
    ]
    everything = text(statements)
    assert "sns:Publish" in everything and "EventsTopic" in everything
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert "*" not in actions and "s3:*" not in actions
        if "s3:PutObject" in actions:
            assert "trainings/*" in text(statement["Resource"]) and "async-" not in text(
                statement["Resource"]
            )
        if "sns:Publish" in actions:
            assert "EventsTopic" in text(statement["Resource"])
    assert "s3:DeleteObject" not in everything


def test_dead_letters_and_errors_alarm(service: dict[str, Any]) -> None:
    names = {v["Properties"].get("AlarmName") for v in of_type(service, "AWS::CloudWatch::Alarm").values()}
    assert {"avatar-status-events-dead-letters", "avatar-status-events-function-errors"} <= names


def test_outputs_name_the_topic_and_the_subscribe_policy(service: dict[str, Any]) -> None:
    outputs = service["Outputs"]
    assert "EventsTopic" in text(outputs["TrainingEventsTopicArn"]["Value"])
    policy = one(service, "AWS::IAM::ManagedPolicy", "EventsSubscribePolicy")
    actions = text(policy["PolicyDocument"]["Statement"])
    assert "sns:Subscribe" in actions and "sns:Publish" not in actions
