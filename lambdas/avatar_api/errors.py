"""Domain errors (a code, no HTTP: their one HTTP mapping is `routers.common.STATUS_OF`), the failures the
adapters raise, and the error body `{"error": {"code", "message"}}`.

What a caller reads — an error message, a training's failure reason — never names this deployment's
internals: `redact` replaces ARNs (roles, functions, endpoints), account ids, S3 URIs and bucket names,
AWS console and service URLs, file-system paths and object reprs, and drops a traceback; the full text
stays in the logs. Messages are written without exception text in the first place; `redact` is the net
under them, applied by the one error mapping (`avatar_api.app`) and to failure reasons (`domain.status`,
`domain.events`).
"""

from __future__ import annotations

import os
import re

from avatar_contract.names import Env
from avatar_contract.status import ErrorCode

_REDACTIONS = (
    (re.compile(r"Traceback \(most recent call last\).*", re.DOTALL), ""),
    (re.compile(r"\barn:[a-z0-9-]+:[^\s\"'(),;]*"), "<resource>"),
    (re.compile(r"\bs3://[^\s\"'(),;]*"), "<s3 location>"),
    (re.compile(r"\bhttps?://[^\s\"']*(amazonaws|aws\.amazon)\.com[^\s\"']*"), "<aws url>"),
    (re.compile(r"(?<!\w)\d{12}(?!\w)"), "<account>"),
    (re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>"), "<object>"),
    # Absolute paths under the roots a container or function writes to (API routes are left alone).
    (
        re.compile(
            r"(?<![\w.~-])/(?:opt|tmp|var|usr|home|root|etc|proc|mnt|srv|lib|lib64|sys|dev|run|workspace|"
            r"app|aws|asset-input|asset-output|cache)(?:/[^\s\"'(),;:]*)?"
        ),
        "<path>",
    ),
)


def redact(text: str) -> str:
    """`text` without this deployment's internals (the module docstring says which)."""
    for bucket in (os.environ.get(Env.DATA_BUCKET), os.environ.get(Env.HOSTING_BUCKET)):
        if bucket:
            text = text.replace(bucket, "<bucket>")
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text.strip()


class ApiError(Exception):
    """An error a caller can act on: the domain raises it, knowing nothing of HTTP. `code` is what the
    caller reads (`avatar_contract.status.ErrorCode`; its one HTTP status is in `routers.common`);
    `caller_fault` says whether the caller's request was refused (metered, docs/limits.md) or the service
    failed; `retry_after` (seconds), where set, is sent as `Retry-After`."""

    code = ErrorCode.INTERNAL_ERROR
    caller_fault = False

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class Refusal(ApiError):
    """The caller's request is refused (the service did nothing wrong)."""

    caller_fault = True


class InvalidRequest(Refusal):
    code = ErrorCode.INVALID_REQUEST


class PayloadTooLarge(Refusal):
    code = ErrorCode.PAYLOAD_TOO_LARGE


class Forbidden(Refusal):
    code = ErrorCode.FORBIDDEN


class NotFound(Refusal):
    code = ErrorCode.NOT_FOUND


class Conflict(Refusal):
    code = ErrorCode.CONFLICT


class ModelNotFound(NotFound):
    code = ErrorCode.MODEL_NOT_FOUND


class PackNotFound(NotFound):
    code = ErrorCode.PACK_NOT_FOUND


class JobFinished(Conflict):
    """A pack job whose images have all finished cannot be cancelled."""

    code = ErrorCode.JOB_FINISHED


class ModelFamilyMismatch(Conflict):
    """The model was trained on another base family than the deployment serves (the message names both)."""

    code = ErrorCode.MODEL_FAMILY_MISMATCH


class IdempotencyKeyReused(Refusal):
    code = ErrorCode.IDEMPOTENCY_KEY_REUSED


class ContentBlocked(Refusal):
    """Content moderation refused a prompt, an image or every generated image; `category` names why."""

    code = ErrorCode.CONTENT_BLOCKED

    def __init__(self, message: str, *, category: str) -> None:
        super().__init__(message)
        self.category = category


class NotEnoughUsableImages(Refusal):
    """The selfie screening left too few usable images (the message gives every reason)."""

    code = ErrorCode.NOT_ENOUGH_USABLE_IMAGES


class RetryLater(Refusal):
    """A refusal that always says when to look again: `retry_after` seconds."""

    retry_after: int

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)


class TooManyUploads(RetryLater):
    """Too many open upload slots: retry after `retry_after` seconds (or use the open ones)."""

    code = ErrorCode.TOO_MANY_UPLOADS


class QuotaExceeded(RetryLater):
    """A per-owner quota (docs/limits.md): the message names the limit; retry after `retry_after` s."""

    code = ErrorCode.QUOTA_EXCEEDED


class RequestInProgress(RetryLater):
    """Retryable: a request with the same Idempotency-Key is still being processed."""

    code = ErrorCode.REQUEST_IN_PROGRESS


class ServiceUnavailable(ApiError):
    """Retryable: the caller should try again after `retry_after` seconds."""

    code = ErrorCode.SERVICE_UNAVAILABLE

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message, retry_after=retry_after)


class UpstreamError(ApiError):
    code = ErrorCode.UPSTREAM_ERROR


# Failures the adapters raise and the domain handles (none of them reaches a caller as it is).


class AlreadyExists(Exception):
    """A conditional create found the object already there."""


class Changed(Exception):
    """A conditional replace found the object changed (or gone) since it was read or written."""


class ModelNotReady(Exception):
    """The multi-model endpoint is still loading the target model (retry later)."""


# The SageMaker runtime's answers that a later attempt can get past: throttling, the service or the
# container briefly unavailable, out of memory (507, the model server's answer while it is full), and
# timeouts. Everything else (ValidationError, ModelError 424, ...) fails the same way again.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504, 507})
THROTTLING_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
TIMEOUT_CODE = "Timeout"


class EndpointError(Exception):
    """The SageMaker runtime refused or failed a call. `retryable` is the one classification of which
    failures are worth retrying (the API answers them with 503 and Retry-After, the others with 502)."""

    def __init__(self, message: str, *, code: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_STATUSES or self.code in THROTTLING_CODES or self.code == TIMEOUT_CODE


def endpoint_failure(error: EndpointError, endpoint: str, *, retry_after: int = 5) -> ApiError:
    """The one mapping of a SageMaker runtime failure to what the caller sees: retryable ones (see
    `EndpointError.retryable`) are ServiceUnavailable (with Retry-After), the others UpstreamError."""
    reason = error.code or str(error.status)
    if error.retryable:
        return ServiceUnavailable(
            f"the {endpoint} is busy or unavailable ({reason}); retry", retry_after=retry_after
        )
    return UpstreamError(f"the {endpoint} failed ({reason})")  # its message (an account, a log URL): logs


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": str(code), "message": message}}


def describe_validation_errors(errors: list[dict]) -> str:
    """One readable sentence per pydantic error, each naming its field (`images[3].data: ...`)."""
    parts = []
    for error in errors:
        loc = [part for part in error.get("loc", ()) if part != "body"]
        field = ""
        for part in loc:
            field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
        if error.get("type") == "json_invalid":
            parts.append("request body is not valid JSON")
            continue
        message = error.get("msg", "invalid value")
        parts.append(f"{field or 'body'}: {message}")
    return "; ".join(parts) or "invalid request"
