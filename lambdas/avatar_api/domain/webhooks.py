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

from avatar_api.adapters.webhook_secrets import RotationConflict, SecretState
from avatar_api.adapters.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookFailed,
    WebhookRefused,
    WebhookSender,
    signature,
)
from avatar_api.domain.records import TrainingRecord, Webhook, WebhookAttempt
from avatar_api.domain.services import Services
from avatar_api.errors import Conflict
from avatar_api.settings import WEBHOOK_SECRET_GRACE_SECONDS

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
BACKOFF_SECONDS = (1.0, 3.0)  # before the 2nd and the 3rd attempt
RETRIED_CLIENT_ERRORS = frozenset({408, 429})
USER_AGENT = "avatar-service-webhooks/1"


class WebhookSecret(BaseModel):
    """What GET /webhooks/secret (and POST /webhooks/secret/rotate) answers: the caller's signing secret,
    the previous one while it is still accepted, and how deliveries are signed."""

    secret: str = Field(description="Hex; the HMAC-SHA256 key is this string's bytes")
    previous_secret: str | None = Field(
        None, description="The secret before the last rotation, while deliveries are still signed with it"
    )
    previous_valid_until: str | None = Field(None, description="Until when (UTC) previous_secret signs too")
    rotated: str | None = Field(None, description="When the secret was last rotated (null: never)")
    grace_seconds: int = Field(WEBHOOK_SECRET_GRACE_SECONDS, description="How long a replaced secret signs")
    timestamp_header: str = TIMESTAMP_HEADER
    signature_header: str = Field(
        SIGNATURE_HEADER,
        description='"sha256=" + hex HMAC-SHA256 of "<timestamp>.<body>", one per valid secret, '
        "comma-separated (current first)",
    )


def _answer(services: Services, owner: str, state: SecretState) -> WebhookSecret:
    previous = state.previous_valid(datetime.now(UTC)) and state.previous_generation is not None
    return WebhookSecret(
        secret=services.owner_ids.webhook_key(owner, state.generation),
        previous_secret=(
            services.owner_ids.webhook_key(owner, state.previous_generation or 0) if previous else None
        ),
        previous_valid_until=state.previous_valid_until if previous else None,
        rotated=state.rotated,
    )


def secret_of(services: Services, owner: str) -> WebhookSecret:
    return _answer(services, owner, services.webhook_secrets.state(owner)[0])


def rotate_secret(services: Services, owner: str) -> WebhookSecret:
    """A new secret for the owner's webhooks; the old one signs too for WEBHOOK_SECRET_GRACE_SECONDS."""
    try:
        state = services.webhook_secrets.rotate(owner)
    except RotationConflict:
        raise Conflict(
            "the webhook secret was rotated by another request just now; GET /webhooks/secret"
        ) from None
    log.info("webhook secret rotated", extra={"generation": state.generation})
    return _answer(services, owner, state)


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
    secrets = services.webhook_secrets.valid(owner)  # the current one, then one in its grace period
    sent_here = 0
    while not webhook.done:
        if sent_here:
            time.sleep(BACKOFF_SECONDS[min(len(webhook.attempts), len(BACKOFF_SECONDS)) - 1])
        if deadline is not None and time.monotonic() + sender.attempt_seconds > deadline:
            raise WebhookPending(f"webhook of {record.training_id}: no time left for attempt")
        attempt, final = _attempt(sender, webhook.url, body, signed_headers(secrets, body))
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


def signed_headers(secrets: list[str], body: bytes) -> dict[str, str]:
    """The headers of one delivery of `body`: a timestamp and a signature per valid secret."""
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: ",".join(signature(secret, timestamp, body) for secret in secrets),
    }


def post_signed(
    services: Services, owner: str, url: str, body: bytes, *, attempts: int = 1, deadline: float | None = None
) -> bool:
    """POST `body` to `url` signed as every webhook is, up to `attempts` times with the same backoff and
    the same rule of what is retried as `deliver`; whether it was delivered (pack jobs' webhooks, which
    keep no attempts record: docs/packs.md). `deadline` is a `time.monotonic()` value."""
    sender = services.webhooks
    if sender is None:
        return False
    secrets = services.webhook_secrets.valid(owner)
    for number in range(1, attempts + 1):
        if number > 1:
            time.sleep(BACKOFF_SECONDS[min(number - 1, len(BACKOFF_SECONDS)) - 1])
        if deadline is not None and time.monotonic() + sender.attempt_seconds > deadline:
            return False
        attempt, final = _attempt(sender, url, body, signed_headers(secrets, body))
        delivered = attempt.status_code is not None and 200 <= attempt.status_code < 300
        log.info("webhook attempt", extra={"attempt": number, "status_code": attempt.status_code})
        if delivered or final:
            return delivered
    return False


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
