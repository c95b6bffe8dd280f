"""The status consumer on moto: SQS batches of SageMaker notifications → training events on an SNS topic
(attributes `owner`/`status`, filtered per owner), the record marked, redeliveries deduplicated."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from avatar_api.adapters.messaging import EventsTopic
from avatar_api.handlers.status_events import lambda_handler
from avatar_api.lambda_context import LocalContext
from avatar_api.services import get_services
from avatar_contract import keys
from avatar_contract.keys import split_s3_uri
from avatar_contract.progress import TrainingProgress
from avatar_contract.training import TrainingFailure
from tests.fixtures.api import ALICE, BOB, SESSION, owner_id, response_json, selfies
from tests.fixtures.api_backend import DATA_BUCKET, Api
from tests.fixtures.notifications import FAILURE, SUCCESS
from tests.integration.api.helpers import put_successful_result

ALICE_OWNER, BOB_OWNER = owner_id(ALICE), owner_id(BOB)


class Subscriber:
    """An SQS queue subscribed to the events topic with a filter policy on one owner."""

    def __init__(self, topic_arn: str, owner: str) -> None:
        self.sqs = SESSION.client("sqs")
        self.url = self.sqs.create_queue(QueueName=f"events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]
        SESSION.client("sns").subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=arn["QueueArn"],
            Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps({"owner": [owner]})},
        )

    def messages(self) -> list[dict[str, Any]]:
        found = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return [json.loads(message["Body"]) for message in found.get("Messages", [])]


@pytest.fixture
def topic(api: Api) -> str:
    arn = SESSION.client("sns").create_topic(Name="avatar-training-events")["TopicArn"]
    get_services().events = EventsTopic(arn, SESSION.client("sns"))
    return arn


def submit(api: Api, user: str = ALICE) -> tuple[dict[str, Any], str, str]:
    output, failure = api.queue_training()
    accepted = response_json(api.call("POST", "/trainings", {"images": selfies()}, user=user))
    return accepted, output, failure


def notification(
    accepted: dict[str, Any], owner: str, location: str, *, failed: bool = False
) -> dict[str, Any]:
    base = FAILURE if failed else SUCCESS
    input_location = f"s3://{DATA_BUCKET}/{keys.training_input_key(owner, accepted['training_id'])}"
    response = {"failureLocation": location} if failed else {"outputLocation": location}
    return {
        **base,
        "inferenceId": accepted["training_id"],
        "requestParameters": {**base["requestParameters"], "inputLocation": input_location},
        "responseParameters": {**base["responseParameters"], **response},
    }


def sqs_event(*bodies: Any) -> dict[str, Any]:
    records = []
    for body in bodies:
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "handle",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1767261600000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1767261600000",
                },
                "messageAttributes": {},
                "md5OfBody": "0" * 32,
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:avatar-status-events",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def complete(
    api: Api, accepted: dict[str, Any], output: str, owner: str = ALICE_OWNER, *, published: bool = True
) -> str:
    """What a successful training leaves: its async output and (unless not `published`) the publisher's
    verdict."""
    preview = keys.preview_prefix(owner, accepted["training_id"]) + "0.png"
    put_successful_result(
        api,
        output,
        owner,
        accepted,
        [preview, "../../escape"],
        identity_similarity=[0.7],
        identity_similarity_median=0.7,
        identity_similarity_threshold=0.4,
    )
    if published:
        api.published(owner, accepted["training_id"], accepted["model_id"])
    return preview


def test_a_completed_training_reaches_its_owner_once(api: Api, topic: str) -> None:
    alice, bob = Subscriber(topic, ALICE_OWNER), Subscriber(topic, BOB_OWNER)
    accepted, output, _ = submit(api)
    preview = complete(api, accepted, output)
    message = notification(accepted, ALICE_OWNER, output)

    assert lambda_handler(sqs_event(message), LocalContext()) == {"batchItemFailures": []}
    # redelivered (SQS is at-least-once): nothing is published again
    assert lambda_handler(sqs_event(message), LocalContext()) == {"batchItemFailures": []}

    events = alice.messages()
    assert len(events) == 1 and bob.messages() == []
    event = events[0]
    assert event["owner"] == ALICE_OWNER and event["status"] == "completed"
    assert event["training_id"] == accepted["training_id"] and event["model_id"] == accepted["model_id"]
    assert event["preview_keys"] == [preview] and event["identity_similarity_median"] == 0.7
    record = get_services().records.load(ALICE_OWNER, accepted["training_id"])
    assert record is not None and record.event is not None
    assert record.event.published and record.event.event_id == event["event_id"]
    # the status stays what the async output says
    assert response_json(api.call("GET", f"/trainings/{accepted['training_id']}"))["status"] == "completed"


def test_a_failed_training_carries_its_reason(api: Api, topic: str) -> None:
    alice = Subscriber(topic, ALICE_OWNER)
    accepted, _, failure = submit(api)
    body = TrainingFailure(training_id=accepted["training_id"], reason="only 3 usable faces; need 8")
    api.s3.put_object(Bucket=DATA_BUCKET, Key=split_s3_uri(failure)[1], Body=body.model_dump_json())

    lambda_handler(sqs_event(notification(accepted, ALICE_OWNER, failure, failed=True)), LocalContext())

    (event,) = alice.messages()
    assert event["status"] == "failed" and "only 3 usable faces" in event["reason"]


def test_only_the_unreadable_records_of_a_batch_are_retried(api: Api, topic: str) -> None:
    ready, ready_output, _ = submit(api)
    complete(api, ready, ready_output)
    pending, pending_output, _ = submit(api)  # its output is not written yet
    event = sqs_event(
        notification(ready, ALICE_OWNER, ready_output),
        notification(pending, ALICE_OWNER, pending_output),
        "not json",
    )

    response = lambda_handler(event, LocalContext())

    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    assert failed == {event["Records"][1]["messageId"], event["Records"][2]["messageId"]}


def test_a_notification_cannot_address_another_owner(api: Api, topic: str) -> None:
    bob = Subscriber(topic, BOB_OWNER)
    accepted, output, _ = submit(api)
    complete(api, accepted, output)
    # Alice's training, claimed for Bob's prefix; and Alice's input with another training's outcome
    forged = notification(accepted, BOB_OWNER, output)
    elsewhere = notification(accepted, ALICE_OWNER, f"s3://{DATA_BUCKET}/async-outputs/other.out")

    assert lambda_handler(sqs_event(forged, elsewhere), LocalContext()) == {"batchItemFailures": []}

    assert bob.messages() == []
    record = get_services().records.load(ALICE_OWNER, accepted["training_id"])
    assert record is not None and record.event is None


def test_an_outcome_gives_the_owners_training_slot_back(api: Api, topic: str) -> None:
    """One training at a time: the second is refused until the first one's notification is consumed."""
    services = get_services()
    services.quotas.limits = type(services.quotas.limits)(concurrent_trainings=1)
    accepted, output, _ = submit(api)
    api.queue_training()
    refused = api.call("POST", "/trainings", {"images": selfies()})
    assert refused["statusCode"] == 429 and response_json(refused)["error"]["code"] == "quota_exceeded"

    complete(api, accepted, output)
    message = notification(accepted, ALICE_OWNER, output)
    assert lambda_handler(sqs_event(message), LocalContext()) == {"batchItemFailures": []}
    assert lambda_handler(sqs_event(message), LocalContext()) == {"batchItemFailures": []}  # redelivered

    again = api.call("POST", "/trainings", {"images": selfies()})
    assert again["statusCode"] == 202, again["body"]


def test_the_event_carries_the_trainings_last_progress(api: Api, topic: str) -> None:
    alice = Subscriber(topic, ALICE_OWNER)
    accepted, output, _ = submit(api)
    complete(api, accepted, output)
    final = TrainingProgress(
        phase="completed", step=10, total_steps=10, loss=0.1, elapsed_seconds=42.0, eta_seconds=0,
        updated="2026-12-02T00:00:00Z",
    )  # fmt: skip
    key = keys.progress_key(ALICE_OWNER, accepted["training_id"])
    api.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=final.model_dump_json())
    message = notification(accepted, ALICE_OWNER, output)
    assert lambda_handler(sqs_event(message), LocalContext()) == {"batchItemFailures": []}
    [event] = alice.messages()
    assert TrainingProgress.model_validate(event["progress"]) == final
