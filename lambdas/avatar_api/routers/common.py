"""Shared bits of the HTTP layer: the caller's owner id, the remaining time, JSON responses, the query
parameters of a listing's pages, and the one mapping of domain errors to HTTP (`STATUS_OF`,
`error_headers`) with its documented error responses."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel

from avatar_api.adapters.cursors import CURSOR_MAX_CHARS
from avatar_api.domain.services import Services
from avatar_api.errors import ApiError
from avatar_api.routers.identity import principal_of
from avatar_api.routers.schemas import ErrorResponse
from avatar_api.services import get_services
from avatar_contract.status import ErrorCode

# The one HTTP status of each error code (the domain raises codes; app.py answers with these).
STATUS_OF: dict[ErrorCode, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.MODEL_NOT_FOUND: 404,
    ErrorCode.PACK_NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.MODEL_FAMILY_MISMATCH: 409,
    ErrorCode.JOB_FINISHED: 409,
    ErrorCode.REQUEST_IN_PROGRESS: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.CONTENT_BLOCKED: 422,
    ErrorCode.NOT_ENOUGH_USABLE_IMAGES: 422,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.TOO_MANY_UPLOADS: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.UPSTREAM_ERROR: 502,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
}

_ERROR_TEXT = {
    400: "Invalid request (the message names the field)",
    403: "No IAM identity in the request",
    404: "Unknown id, or it belongs to another caller",
    409: "The model is still training or its training failed (conflict), or a request with the same "
    "Idempotency-Key is still running (request_in_progress: retry after Retry-After seconds), or the "
    "model was trained on another base family than the one deployed (model_family_mismatch)",
    413: "An image is larger than the limits",
    422: "Idempotency key reused for a different request, or content blocked by moderation (content_blocked)",
    429: "A per-owner quota (quota_exceeded, the message names it) or too many open upload slots "
    "(too_many_uploads); retry after Retry-After seconds",
    502: "The SageMaker endpoint failed",
    503: "Temporarily unavailable; retry after Retry-After seconds",
}


def error_responses(*statuses: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI entries for the errors a route can answer (all share `{"error": {"code", "message"}}`)."""
    return {
        status: {
            "description": _ERROR_TEXT[status],
            "content": {"application/json": {"model": ErrorResponse}},
        }
        for status in (400, 403, *statuses)
    }


def page_size(maximum: int, items: str) -> Query:
    """A listing's `limit` query parameter: 1 to `maximum` `items` per page."""
    return Query(ge=1, le=maximum, description=f"{items} per page")


def page_token(field: str) -> Query:
    """A listing's continuation query parameter: the previous page's `field` (an opaque cursor)."""
    return Query(max_length=CURSOR_MAX_CHARS, description=f"{field} of the previous page (opaque)")


def http_status(error: ApiError) -> int:
    return STATUS_OF[error.code]


def error_headers(error: ApiError) -> dict[str, str]:
    """`Retry-After` where the error says when to retry."""
    return {"Retry-After": str(error.retry_after)} if error.retry_after is not None else {}


def remaining_seconds(router: APIGatewayRouter, default: float) -> float:
    """How long this invocation may still run (`default` without a Lambda context)."""
    remaining_ms = getattr(router.lambda_context, "get_remaining_time_in_millis", None)
    return remaining_ms() / 1000 if callable(remaining_ms) else default


def caller(router: APIGatewayRouter) -> tuple[Services, str]:
    """The services and the caller's owner id. The identity is checked first: an unsigned request
    gets 403 before anything else happens."""
    principal = principal_of(router.current_event.raw_event.get("requestContext"))
    services = get_services()
    return services, services.owner_ids.owner_of(principal)


def json_response(status: int, body: BaseModel, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump(mode="json"),
        headers=headers,
    )
