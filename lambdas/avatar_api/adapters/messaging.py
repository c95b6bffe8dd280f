"""The training events topic (SNS): one message per training event, with the message attributes an app
filters on (`owner`, `status`). Nothing here knows the domain's rules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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
