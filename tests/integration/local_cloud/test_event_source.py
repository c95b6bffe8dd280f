"""The local cloud's SQS event source on moto: the status consumer's queue as `provision` creates it (the
stack's redrive, visibility timeout, raw-delivery subscriptions), Lambda's SQS event shape, deletion of
what succeeded, redelivery of `batchItemFailures` and of failed batches, the dead-letter queue."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel
from moto import mock_aws

from local_cloud.aws import _provision_training_events
from local_cloud.event_source import SqsEventSource, failed_ids
from local_cloud.lambda_runtime import LambdaInvocationError
from local_cloud.settings import load_settings
from stacks.config_constants import (
    STATUS_EVENTS_BATCH_SIZE,
    STATUS_EVENTS_MAX_RECEIVE_COUNT,
    STATUS_EVENTS_VISIBILITY_TIMEOUT_SECONDS,
)

REGION = "us-east-1"
SETTINGS = load_settings(REGION)


class RecordingFunction:
    """Stands in for `LambdaFunction`: records each event, answers what `answer` says."""

    name = "status-events"
    timeout = 5.0

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail: set[str] = set()  # bodies to report as batch item failures
        self.raise_error = False
        self.unknown_identifier = False

    def invoke(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if self.raise_error:
            raise LambdaInvocationError({"errorType": "Exception", "errorMessage": "boom"})
        ids = [r["messageId"] for r in event["Records"] if r["body"] in self.fail]
        if self.unknown_identifier:
            ids.append("not-in-this-batch")
        return {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any, str, str]]:
    with mock_aws():
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topics = tuple(sns.create_topic(Name=n)["TopicArn"] for n in ("success", "error"))
        # The consumer's queue is on the error topic; successes reach it through the model publisher.
        _topic_arn, queue_url = _provision_training_events(sns, sqs, SETTINGS, topics[1])
        yield sns, sqs, topics[1], queue_url


def _visible_now(sqs: Any, queue_url: str, event: dict[str, Any] | None = None) -> None:
    """Let the messages of `event` come back now (standing in for their visibility timeout ending), or,
    without an event, every message received from now on."""
    if event is None:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "0"})
        return
    for record in event["Records"]:
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
        )


def _count(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_the_consumer_queue_is_provisioned_as_the_stack_declares_it(aws: tuple[Any, Any, str, str]) -> None:
    sns, sqs, _success_arn, queue_url = aws
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert int(attributes["VisibilityTimeout"]) == STATUS_EVENTS_VISIBILITY_TIMEOUT_SECONDS
    redrive = json.loads(attributes["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == STATUS_EVENTS_MAX_RECEIVE_COUNT
    assert redrive["deadLetterTargetArn"].endswith(f":{SETTINGS.status_events_dead_letter_queue}")
    assert queue_url.endswith(f"/{SETTINGS.status_events_queue}")
    subscriptions = sns.list_subscriptions()["Subscriptions"]
    ours = [s for s in subscriptions if s["Endpoint"] == attributes["QueueArn"]]
    assert [s["TopicArn"].rsplit(":", 1)[1] for s in ours] == ["error"]  # successes: via the publisher
    for subscription in ours:
        raw = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])
        assert raw["Attributes"]["RawMessageDelivery"] == "true"
    assert [
        t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(SETTINGS.events_topic)
    ]


def test_successes_are_deleted_and_batch_item_failures_redelivered(aws: tuple[Any, Any, str, str]) -> None:
    sns, sqs, success_arn, queue_url = aws
    function = RecordingFunction()
    function.fail = {"bad"}
    source = SqsEventSource(
        sqs, queue_url, function, REGION, batch_size=STATUS_EVENTS_BATCH_SIZE, wait_seconds=0
    )
    for body in ("good", "bad"):
        sns.publish(TopicArn=success_arn, Message=body)  # raw delivery: the body is the message
    assert source.poll_once() == 2
    event = function.events[0]
    SqsModel.model_validate(event)  # the shape Lambda gives (Powertools' parser, as the handler uses)
    assert {r["body"] for r in event["Records"]} == {"good", "bad"}
    assert all(r["eventSourceARN"].endswith(f":{SETTINGS.status_events_queue}") for r in event["Records"])
    assert source.deleted == 1 and source.left == 1
    assert source.poll_once() == 0  # the failure is invisible until its visibility timeout ends
    _visible_now(sqs, queue_url, {"Records": [r for r in event["Records"] if r["body"] == "bad"]})
    function.fail = set()
    assert source.poll_once() == 1
    again = function.events[-1]["Records"]
    assert [r["body"] for r in again] == ["bad"] and again[0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert _count(sqs, queue_url) == 0


@pytest.mark.parametrize("failure", ["raises", "unknown identifier"])
def test_a_failed_batch_is_left_whole_and_dead_letters_after_max_receives(
    aws: tuple[Any, Any, str, str], failure: str
) -> None:
    sns, sqs, success_arn, queue_url = aws
    function = RecordingFunction()
    function.raise_error = failure == "raises"
    function.unknown_identifier = failure == "unknown identifier"
    source = SqsEventSource(
        sqs, queue_url, function, REGION, batch_size=STATUS_EVENTS_BATCH_SIZE, wait_seconds=0
    )
    for body in ("one", "two"):
        sns.publish(TopicArn=success_arn, Message=body)
    _visible_now(sqs, queue_url)
    for _ in range(STATUS_EVENTS_MAX_RECEIVE_COUNT):
        assert source.poll_once() == 2
    assert source.deleted == 0
    assert source.poll_once() == 0  # moved to the dead-letter queue
    dead_letter_url = sqs.get_queue_url(QueueName=SETTINGS.status_events_dead_letter_queue)["QueueUrl"]
    assert _count(sqs, dead_letter_url) == 2


def test_batches_are_at_most_the_batch_size(aws: tuple[Any, Any, str, str]) -> None:
    sns, sqs, success_arn, queue_url = aws
    function = RecordingFunction()
    source = SqsEventSource(sqs, queue_url, function, REGION, batch_size=3, wait_seconds=0)
    for n in range(7):
        sns.publish(TopicArn=success_arn, Message=f"m{n}")
    while source.poll_once():
        pass
    assert all(len(e["Records"]) <= 3 for e in function.events)
    assert source.deleted == 7 and _count(sqs, queue_url) == 0


def test_failed_ids_follows_lambdas_partial_batch_response_rules() -> None:
    batch = ["a", "b"]
    assert failed_ids(None, batch) == set()
    assert failed_ids({"batchItemFailures": []}, batch) == set()
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, batch) == {"b"}
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, batch) == {"a", "b"}
    assert failed_ids({"batchItemFailures": [{}]}, batch) == {"a", "b"}
    assert failed_ids({"batchItemFailures": "b"}, batch) == {"a", "b"}
    assert failed_ids("not a response", batch) == {"a", "b"}


def test_stop_ends_the_background_poller(aws: tuple[Any, Any, str, str]) -> None:
    _sns, sqs, _success_arn, queue_url = aws
    function = RecordingFunction()
    source = SqsEventSource(
        sqs, queue_url, function, REGION, batch_size=STATUS_EVENTS_BATCH_SIZE, wait_seconds=1
    )
    source.start()
    assert source.is_running()
    source.stop()
    assert not source.is_running()


def test_stop_does_not_wait_out_the_long_poll(aws: tuple[Any, Any, str, str]) -> None:
    """stop() returns at once while a long poll is under way; what that poll still receives is not
    invoked (it becomes visible again after the visibility timeout), and the thread then ends."""
    _sns, sqs, _success_arn, queue_url = aws
    function = RecordingFunction()
    source = SqsEventSource(sqs, queue_url, function, REGION, batch_size=1, wait_seconds=3)
    source.start()
    time.sleep(0.3)  # inside its first long poll
    started = time.monotonic()
    source.stop()
    assert time.monotonic() - started < 0.5
    assert not source.is_running()
    sqs.send_message(QueueUrl=queue_url, MessageBody="after stop")
    thread = source._thread
    assert thread is not None
    thread.join(5)
    assert not thread.is_alive()
    assert function.events == []
