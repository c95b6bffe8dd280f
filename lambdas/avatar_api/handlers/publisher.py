"""Lambda function `model-publisher` (issue 21 M1, docs/hosting.md): SQS batches of SageMaker's success
notifications (raw delivery from the success topic) → the training's model checked and published to
`models/*` (domain.publishing), then the notification forwarded to the status consumer's queue, so a
training event always follows the publisher's verdict. A record that fails is reported back as a partial
batch failure, so SQS redelivers only it (then its dead-letter queue).

Invoked directly with `{"republish": {"owner_prefix": …, "limit": N, "continuation": …}}` by an operator
(docs/deploy.md "Upgrading"), it rebuilds a page of archives published before archives were code-free
(domain.republishing) and returns the report with the continuation."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel

from avatar_api.adapters.aws import Bucket, s3_client
from avatar_api.domain.publishing import handle_success
from avatar_api.domain.republishing import RepublishRequest, republish_page
from avatar_api.handlers import make_batch_handler
from avatar_contract.names import Env
from avatar_contract.notifications import AsyncInferenceNotification

# The body stays text: it is checked here and forwarded to the status consumer as SageMaker wrote it.
processor = BatchProcessor(event_type=EventType.SQS, model=SqsRecordModel)


@cache
def events_queue() -> tuple[Any, str]:
    """The SQS client and the status consumer's queue URL."""
    return boto3.client("sqs"), os.environ[Env.STATUS_EVENTS_QUEUE_URL]


@cache
def buckets() -> tuple[Bucket, Bucket]:
    """The data bucket (staged models, records, verdicts) and the hosting bucket (`models/`)."""
    s3 = s3_client()
    return Bucket(os.environ[Env.DATA_BUCKET], s3), Bucket(os.environ[Env.HOSTING_BUCKET], s3)


def record_handler(record: SqsRecordModel) -> None:
    body = str(record.body)
    notification = AsyncInferenceNotification.model_validate_json(body)
    if handle_success(*buckets(), notification) != "ignored":
        sqs, queue_url = events_queue()
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)


consume = make_batch_handler(processor, record_handler)


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    if "republish" in event:
        data, hosting = buckets()
        request = RepublishRequest.model_validate(event["republish"] or {})
        return republish_page(hosting, data, request).model_dump(mode="json")
    return consume(event, context)
