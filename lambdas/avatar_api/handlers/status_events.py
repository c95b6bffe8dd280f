"""Lambda function `status-events`: the status consumer (docs/events.md). SQS batches of SageMaker's
notifications (raw delivery from the success/error topics) → training events; a record that fails is
reported back as a partial batch failure, so SQS redelivers only it (then its dead-letter queue)."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import Json

from avatar_api.domain.events import handle_notification
from avatar_api.handlers import make_batch_handler
from avatar_api.services import get_services
from avatar_contract.notifications import AsyncInferenceNotification


class NotificationRecord(SqsRecordModel):
    body: Json[AsyncInferenceNotification]


processor = BatchProcessor(event_type=EventType.SQS, model=NotificationRecord)
# Kept free at the end of the invocation for the records still to handle and the batch response.
RESERVE_SECONDS = 10.0


def record_handler(record: NotificationRecord, lambda_context: Any) -> None:
    remaining = lambda_context.get_remaining_time_in_millis() / 1000
    handle_notification(get_services(), record.body, deadline=time.monotonic() + remaining - RESERVE_SECONDS)


lambda_handler = make_batch_handler(processor, record_handler)
