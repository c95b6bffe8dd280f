"""The API's error answers as the SDK raises them, and which of them are worth sending again (a module of
its own: the client and its mixins import it without importing each other)."""

from __future__ import annotations

from avatar_contract.status import ErrorCode

# The API's answers that a later attempt can get past: 503 (`service_unavailable`, with Retry-After: a
# SageMaker endpoint busy, scaling or loading the model), and API Gateway's own 429 (throttled) and 504
# (integration timeout). Everything else (400-422, 500, 502 `upstream_error`) fails the same way again.
RETRYABLE_STATUSES = frozenset({429, 503, 504})
# By code: 409 `request_in_progress` (the same Idempotency-Key is still running) is worth retrying; 429
# `quota_exceeded` (a per-owner quota, docs/limits.md) is not retried automatically: its Retry-After can be
# hours, so the caller decides (the error carries `retry_after`).
RETRYABLE_CODES = frozenset({ErrorCode.REQUEST_IN_PROGRESS})
NOT_RETRYABLE_CODES = frozenset({ErrorCode.QUOTA_EXCEEDED})


class AvatarApiError(Exception):
    """The API answered with an error (`{"error": {"code", "message"}}`)."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Worth sending again (after `retry_after` seconds when the API names them)."""
        if self.code in NOT_RETRYABLE_CODES:
            return False
        return self.status in RETRYABLE_STATUSES or self.code in RETRYABLE_CODES
