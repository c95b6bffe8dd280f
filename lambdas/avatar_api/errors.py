"""Domain errors and their single mapping to HTTP: `{"error": {"code", "message"}}`.

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

from avatar_api.aws import EndpointError
from avatar_contract.names import Env

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
    """An error a caller can act on. `status` and `code` are what the client sees."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InvalidRequest(ApiError):
    status = 400
    code = "invalid_request"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class ModelNotFound(NotFound):
    code = "model_not_found"


class PackNotFound(NotFound):
    code = "pack_not_found"


class JobFinished(Conflict):
    """A pack job whose images have all finished cannot be cancelled."""

    code = "job_finished"


class ModelFamilyMismatch(ApiError):
    """The model was trained on another base family than the deployment serves (the message names both)."""

    status = 409
    code = "model_family_mismatch"


class IdempotencyKeyReused(ApiError):
    status = 422
    code = "idempotency_key_reused"


class ContentBlocked(ApiError):
    """Content moderation refused a prompt, an image or every generated image; `category` names why."""

    status = 422
    code = "content_blocked"

    def __init__(self, message: str, *, category: str) -> None:
        super().__init__(message)
        self.category = category


class ServiceUnavailable(ApiError):
    """Retryable: the caller should try again after `Retry-After` seconds."""

    status = 503
    code = "service_unavailable"

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class TooManyUploads(ApiError):
    """Too many open upload slots: retry after `Retry-After` seconds (or use the open ones)."""

    status = 429
    code = "too_many_uploads"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class QuotaExceeded(ApiError):
    """A per-owner quota (docs/limits.md): the message names the limit; retry after `Retry-After` s."""

    status = 429
    code = "quota_exceeded"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class RequestInProgress(ApiError):
    """Retryable: a request with the same Idempotency-Key is still being processed."""

    status = 409
    code = "request_in_progress"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class UpstreamError(ApiError):
    status = 502
    code = "upstream_error"


def endpoint_failure(error: EndpointError, endpoint: str, *, retry_after: int = 5) -> ApiError:
    """The one mapping of a SageMaker runtime failure to what the caller sees: retryable ones (see
    `EndpointError.retryable`) are 503 with Retry-After, the others 502."""
    reason = error.code or str(error.status)
    if error.retryable:
        return ServiceUnavailable(
            f"the {endpoint} is busy or unavailable ({reason}); retry", retry_after=retry_after
        )
    return UpstreamError(f"the {endpoint} failed ({reason})")  # its message (an account, a log URL): logs


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


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
