"""Delivering a training's webhook (docs/events.md, "Webhooks"), from the status consumer once the
training's event is published: a signed POST of the event, up to `MAX_ATTEMPTS` with backoff, each
attempt recorded on the training record (conditionally, so a concurrent redelivery cannot double it).

2xx is delivered; a refused URL or address, a 3xx (not followed) or a 4xx other than 408/429 ends the
webhook without retry; anything else is retried. When the invocation has no time left for another
attempt the record is handed back to the queue (`WebhookPending`), whose redelivery continues where
the record says.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from avatar_api.records import TrainingRecord, Webhook, WebhookAttempt
from avatar_api.services import Services
from avatar_api.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookFailed,
    WebhookRefused,
    WebhookSender,
    signature,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
BACKOFF_SECONDS = (1.0, 3.0)  # before the 2nd and the 3rd attempt
RETRIED_CLIENT_ERRORS = frozenset({408, 429})
USER_AGENT = "avatar-service-webhooks/1"


class WebhookSecret(BaseModel):
    """What GET /webhooks/secret answers: the caller's signing secret and how it signs."""

    secret: str = Field(description="Hex; the HMAC-SHA256 key is this string's bytes")
    timestamp_header: str = TIMESTAMP_HEADER
    signature_header: str = Field(
        SIGNATURE_HEADER, description='"sha256=" + hex HMAC-SHA256 of "<timestamp>.<body>"'
    )


def secret_of(services: Services, owner: str) -> WebhookSecret:
    return WebhookSecret(secret=services.owner_ids.webhook_key(owner))


class WebhookPending(Exception):
    """Attempts remain but this invocation has no time for them: the queue redelivers the record."""


def deliver(
    services: Services,
    owner: str,
    record: TrainingRecord,
    etag: str,
    body: bytes,
    *,
    deadline: float | None = None,
) -> TrainingRecord:
    """Send `body` (the event as JSON) to the record's webhook until done; returns the record as stored.

    `deadline` is a `time.monotonic()` value by which the last attempt must have ended (None: no limit)."""
    sender = services.webhooks
    webhook = record.webhook
    if sender is None or webhook is None or webhook.done:
        return record
    secret = services.owner_ids.webhook_key(owner)
    sent_here = 0
    while not webhook.done:
        if sent_here:
            time.sleep(BACKOFF_SECONDS[min(len(webhook.attempts), len(BACKOFF_SECONDS)) - 1])
        if deadline is not None and time.monotonic() + sender.attempt_seconds > deadline:
            raise WebhookPending(f"webhook of {record.training_id}: no time left for attempt")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(secret, timestamp, body),
        }
        attempt, final = _attempt(sender, webhook.url, body, headers)
        sent_here += 1
        webhook = _after(webhook, attempt, final)
        record = record.model_copy(update={"webhook": webhook})
        etag = services.records.replace(owner, record, etag)
        log.info(
            "webhook attempt",
            extra={
                "training_id": record.training_id,
                "attempt": len(webhook.attempts),
                "status_code": attempt.status_code,
                "delivered": webhook.delivered,
            },
        )
    return record


def _attempt(
    sender: WebhookSender, url: str, body: bytes, headers: dict[str, str]
) -> tuple[WebhookAttempt, bool]:
    """The attempt, and whether no retry may follow it."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        status = sender.post(url, body, headers)
    except WebhookRefused as error:
        return WebhookAttempt(time=now, error=str(error)), True
    except WebhookFailed as error:
        return WebhookAttempt(time=now, error=str(error)), False
    # 3xx: redirects are not followed (the target would escape the address check), so it ends too.
    final = 200 <= status < 500 and status not in RETRIED_CLIENT_ERRORS
    return WebhookAttempt(time=now, status_code=status), final


def _after(webhook: Webhook, attempt: WebhookAttempt, final: bool) -> Webhook:
    attempts = (*webhook.attempts, attempt)
    delivered = attempt.status_code is not None and 200 <= attempt.status_code < 300
    return webhook.model_copy(
        update={
            "attempts": attempts,
            "delivered": delivered,
            "done": final or delivered or len(attempts) >= MAX_ATTEMPTS,
        }
    )
