"""Verifying a training's webhook on the receiving side (docs/events.md, "Webhooks").

`X-Avatar-Signature` holds one `sha256=<hex>` per secret the service signs with, comma-separated: the
current secret first and, for a grace period after `rotate_webhook_secret()`, the previous one. A
receiver accepts the delivery when any of them matches any secret it holds, so it can switch to the new
secret at any time during the grace period.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping

TIMESTAMP_HEADER = "X-Avatar-Timestamp"
SIGNATURE_HEADER = "X-Avatar-Signature"


def verify_webhook(
    secrets: str | Iterable[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """True when `body` was signed by the service with one of `secrets` less than `tolerance_s` ago."""
    lower = {name.lower(): value for name, value in headers.items()}
    timestamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > tolerance_s:
        return False
    signatures = [part.strip() for part in lower.get(SIGNATURE_HEADER.lower(), "").split(",") if part.strip()]
    for secret in [secrets] if isinstance(secrets, str) else list(secrets):
        mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(candidate, f"sha256={mac}") for candidate in signatures):
            return True
    return False
