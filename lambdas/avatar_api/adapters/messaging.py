"""The training events topic (SNS): one message per training or pack event, with the message attributes an
app filters on (`owner`, `status`, for packs `kind`); the pack runner's work queue (SQS). Nothing here
knows the domain's rules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import boto3


@dataclass(frozen=True)
class EventsTopic:
    topic_arn: str
    client: Any

    @classmethod
    def from_arn(cls, topic_arn: str) -> EventsTopic:
        return cls(topic_arn, boto3.client("sns"))

    def publish(self, document: dict[str, Any], attributes: dict[str, str]) -> str:
        """Publish `document` as JSON with string message attributes; returns SNS's message id."""
        response = self.client.publish(
            TopicArn=self.topic_arn,
            Message=json.dumps(document, sort_keys=True),
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
            },
        )
        return str(response["MessageId"])


@dataclass(frozen=True)
class WorkQueue:
    """An SQS queue of JSON work items (the pack runner's): sent in batches, delayed by changing a
    received message's visibility."""

    queue_url: str
    client: Any
    BATCH: ClassVar[int] = 10  # SendMessageBatch's most entries

    @classmethod
    def from_url(cls, queue_url: str) -> WorkQueue:
        return cls(queue_url, boto3.client("sqs"))

    def send_all(self, documents: list[dict[str, Any]]) -> None:
        """Send every document (in batches of ten); RuntimeError naming how many SQS refused."""
        for start in range(0, len(documents), self.BATCH):
            chunk = documents[start : start + self.BATCH]
            response = self.client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "MessageBody": json.dumps(document, sort_keys=True)}
                    for i, document in enumerate(chunk)
                ],
            )
            if response.get("Failed"):
                raise RuntimeError(f"SQS refused {len(response['Failed'])} of {len(chunk)} work items")

    def delay(self, receipt_handle: str, seconds: int) -> None:
        """Make a received message visible again only after `seconds` (0-43200)."""
        self.client.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )
