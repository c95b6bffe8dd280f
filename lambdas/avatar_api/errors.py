"""Domain errors and their single mapping to HTTP: `{"error": {"code", "message"}}`."""

from __future__ import annotations

from avatar_api.aws import EndpointError


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
    return UpstreamError(f"the {endpoint} failed ({reason}): {error}")


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
