"""Training events (docs/events.md): SageMaker's notification → an event for the training's owner.

The notification names the training (`inferenceId`) and its input archive, whose key
`trainings/<owner>/<training_id>/input.tar.gz` names the owner; the owner's record must agree (same
input, and the same outcome location once the record knows it), so nobody can address an event to an
owner by publishing a crafted notification. The event's content comes from what `domain.status` reads
(the async output in S3 stays the one truth); the record keeps a copy of the event's id and whether it
was published, so a redelivered notification updates nothing and publishes nothing again.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Literal

from pydantic import BaseModel, Field

from avatar_api.domain import webhooks
from avatar_api.domain.records import TrainingEventMark, TrainingRecord
from avatar_api.domain.services import Services
from avatar_api.domain.status import is_async_location, read_progress, training_outcome
from avatar_api.errors import redact
from avatar_api.settings import FAILURE_REASON_MAX_CHARS
from avatar_contract import keys
from avatar_contract.keys import split_s3_uri
from avatar_contract.notifications import AsyncInferenceNotification
from avatar_contract.progress import TrainingProgress
from avatar_contract.status import TrainingStatus

log = logging.getLogger(__name__)

EVENT_SCHEMA_VERSION = 1
# The SNS message attributes an app's filter policy matches (docs/events.md).
OWNER_ATTRIBUTE = "owner"
STATUS_ATTRIBUTE = "status"


class NotYetReadable(Exception):
    """The notification arrived but its outcome cannot be read yet (retried by the queue)."""


class TrainingEvent(BaseModel):
    """What the events topic carries for one finished training."""

    schema_version: int = EVENT_SCHEMA_VERSION
    event_id: str = Field(description="Same for every delivery of one training's outcome")
    owner: str
    training_id: str
    model_id: str
    model_name: str | None = None
    status: Literal[TrainingStatus.COMPLETED, TrainingStatus.FAILED]
    reason: str | None = None
    preview_keys: list[str] = Field(default_factory=list, description="Data bucket keys of the previews")
    identity_similarity: list[float | None] = Field(default_factory=list)
    identity_similarity_median: float | None = None
    identity_similarity_threshold: float | None = None
    progress: TrainingProgress | None = Field(
        default=None, description="The training's last progress object (phase completed/failed, steps)"
    )
    event_time: str | None = None

    def attributes(self) -> dict[str, str]:
        return {OWNER_ATTRIBUTE: self.owner, STATUS_ATTRIBUTE: self.status}


def event_id(training_id: str, status: str) -> str:
    return hashlib.sha256(f"training-event:{training_id}:{status}".encode()).hexdigest()[:32]


def owner_of_notification(services: Services, notification: AsyncInferenceNotification) -> str | None:
    """The owner whose input archive the notification names (None: not one of this service's trainings)."""
    return owner_of_input(services.data.name, notification)


def owner_of_input(data_bucket: str, notification: AsyncInferenceNotification) -> str | None:
    """The owner whose input archive in `data_bucket` the notification names (None: none)."""
    location = notification.request_parameters.input_location
    if not location:
        return None
    try:
        bucket, key = split_s3_uri(location)
    except ValueError:
        return None
    return keys.owner_of_training_input(key, notification.inference_id) if bucket == data_bucket else None


def handle_notification(
    services: Services, notification: AsyncInferenceNotification, *, deadline: float | None = None
) -> TrainingEvent | None:
    """Record and publish the event of one notification, then deliver the training's webhook (if any,
    by `deadline`, a `time.monotonic()` value); None when there is nothing (more) to publish.

    Raises for what the queue should retry: an outcome not readable yet, a record changed concurrently
    (`aws.Changed`), a failed publish, a webhook with attempts left but no time (`WebhookPending`)."""
    owner = owner_of_notification(services, notification)
    if owner is None:
        log.warning(
            "notification of no known training dropped", extra={"inference_id": notification.inference_id}
        )
        return None
    loaded = services.records.load_versioned(owner, notification.inference_id)
    if loaded is None:
        log.info(
            "notification of a deleted training dropped", extra={"training_id": notification.inference_id}
        )
        return None
    record, etag = loaded
    if not _matches(services, record, notification):
        log.warning(
            "notification disagrees with the training record", extra={"training_id": record.training_id}
        )
        return None
    event = derive_event(services, owner, record, notification)
    published = (
        record.event is not None and record.event.event_id == event.event_id and record.event.published
    )
    if not published:
        on_training_finished(services, event)
        if services.events is not None:
            services.events.publish(event.model_dump(mode="json"), event.attributes())
        mark = TrainingEventMark(event_id=event.event_id, status=event.status, published=True)
        record = record.model_copy(update={"event": mark})
        etag = services.records.replace(owner, record, etag)
    # A delivered (or given up) webhook is done and not sent again; a pending one continues.
    webhooks.deliver(services, owner, record, etag, event.model_dump_json().encode(), deadline=deadline)
    return None if published else event  # redelivered: recorded and published already


def on_training_finished(services: Services, event: TrainingEvent) -> None:
    """Runs for each delivery of a training's outcome until its event is recorded as published (so
    at least once; a crash or a concurrent redelivery may run it again): gives the owner's
    concurrent-training slot back, which `Quotas.release_training` does idempotently."""
    services.quotas.release_training(event.owner, event.training_id)


def derive_event(
    services: Services, owner: str, record: TrainingRecord, notification: AsyncInferenceNotification
) -> TrainingEvent:
    """The event from what `domain.status` reads for the record (the notification only says when)."""
    response = notification.response_parameters
    located = record.model_copy(
        update={
            "output_location": record.output_location or response.output_location,
            "failure_location": record.failure_location or response.failure_location,
        }
    )
    state, result = training_outcome(services, owner, located)  # the async output read once
    if (
        state.status == TrainingStatus.QUEUED
        and notification.status == "failed"
        and not located.failure_location
    ):
        # SageMaker failed the invocation itself (e.g. its timeout) and wrote no failure object.
        log.info("SageMaker failed the invocation", extra={"reason": notification.failure_reason})
        reason = redact(notification.failure_reason or "")[:FAILURE_REASON_MAX_CHARS] or "training failed"
        state = state.model_copy(update={"status": TrainingStatus.FAILED, "reason": reason})
    if state.status == TrainingStatus.QUEUED:
        raise NotYetReadable(f"the outcome of {record.training_id} is not readable yet")
    metrics = result.metrics if result is not None and state.status == TrainingStatus.COMPLETED else None
    allowed = keys.preview_prefix(owner, record.training_id)
    return TrainingEvent(
        event_id=event_id(record.training_id, state.status),
        owner=owner,
        training_id=record.training_id,
        model_id=record.model_id,
        model_name=record.model_name,
        status=state.status,
        reason=state.reason,
        preview_keys=[
            key
            for key in (_key_of(services, entry) for entry in (metrics.preview_image_keys if metrics else []))
            if key and key.startswith(allowed) and ".." not in key
        ],
        identity_similarity=metrics.identity_similarity if metrics else [],
        identity_similarity_median=metrics.identity_similarity_median if metrics else None,
        identity_similarity_threshold=metrics.identity_similarity_threshold if metrics else None,
        progress=read_progress(services, owner, record.training_id),
        event_time=notification.event_time,
    )


def _key_of(services: Services, entry: str) -> str | None:
    if not entry.startswith("s3://"):
        return entry
    bucket, key = split_s3_uri(entry)
    return key if bucket == services.data.name else None


def _matches(services: Services, record: TrainingRecord, notification: AsyncInferenceNotification) -> bool:
    """Same input; the outcome where the record says SageMaker writes it (or, before the record knows,
    in the async prefixes of the data bucket)."""
    if notification.request_parameters.input_location != record.input_location:
        return False
    response = notification.response_parameters
    location = response.output_location if notification.status == "completed" else response.failure_location
    expected = record.output_location if notification.status == "completed" else record.failure_location
    if location is None:
        return expected is None or notification.status == "failed"
    return location == expected if expected else is_async_location(services, location)
