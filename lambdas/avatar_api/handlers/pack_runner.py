"""Lambda function `pack-runner` (docs/packs.md): SQS batches of pack work items (one image each) →
`domain.pack_runner`. An item to retry later (the model loading, throttling) has its message's visibility
changed to the backoff and is reported back as a partial batch failure, so SQS redelivers only it then
(after `PackRunner.MAX_RECEIVE_COUNT` receives: its dead-letter queue)."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import Json

from avatar_api.domain.pack_runner import RetryLater, handle_item
from avatar_api.handlers import make_batch_handler
from avatar_api.observability import count, logger
from avatar_api.services import get_services
from avatar_contract.pack_jobs import PackWorkItem


class WorkItemRecord(SqsRecordModel):
    body: Json[PackWorkItem]


# A batch whose every item is delayed is answered as partial failures too, not raised: a delay is not an
# error of the function (its Errors alarm stays for real ones).
processor = BatchProcessor(
    event_type=EventType.SQS, model=WorkItemRecord, raise_on_entire_batch_failure=False
)
# Kept free at the end of the invocation for storing, counting, the events and the batch response.
RESERVE_SECONDS = 15.0


def record_handler(record: WorkItemRecord, lambda_context: Any) -> None:
    remaining = lambda_context.get_remaining_time_in_millis() / 1000
    services = get_services()
    receives = int(record.attributes.ApproximateReceiveCount)
    try:
        outcome = handle_item(
            services,
            record.body,
            receive_count=receives,
            deadline=time.monotonic() + remaining - RESERVE_SECONDS,
        )
    except RetryLater as later:
        count("PackImageDelayed")
        logger.info("pack image delayed", extra={"reason": str(later), "seconds": later.seconds})
        if services.pack_queue is not None:
            services.pack_queue.delay(record.receiptHandle, later.seconds)
        raise
    count(f"PackImage{outcome.capitalize()}")


lambda_handler = make_batch_handler(processor, record_handler, with_metrics=True)
