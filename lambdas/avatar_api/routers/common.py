"""Shared bits of the HTTP layer: the caller's owner id, JSON responses, documented error responses."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel

from avatar_api.identity import principal_of
from avatar_api.routers.schemas import ErrorResponse
from avatar_api.services import Services, get_services

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
