"""Lambda function `status-events`: the status consumer (docs/events.md). SQS batches of SageMaker's
notifications (raw delivery from the success/error topics) → training events; a record that fails is
reported back as a partial batch failure, so SQS redelivers only it (then its dead-letter queue)."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import Json

from avatar_api.domain.events import handle_notification
from avatar_api.handlers import LocalContext
from avatar_api.observability import logger, tracer
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


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def _instrumented(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return _instrumented(event, context if context is not None else LocalContext())
