"""The REST resolver: routers, validation, and the one mapping from errors to HTTP responses.

`build_app(*routers)` is what each Lambda handler uses with its own routers; `app` holds every route
(for the OpenAPI document and for callers that serve the whole API from one process)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from avatar_api.errors import ApiError, describe_validation_errors, error_body, redact
from avatar_api.observability import count, logger
from avatar_api.routers import generations, models, pack_jobs, packs, trainings

ALL_ROUTERS = (
    trainings.router,
    trainings.read_router,
    models.read_router,
    packs.read_router,
    models.router,
    generations.router,
    pack_jobs.read_router,
    pack_jobs.router,
)
API_TITLE = "Personalized Avatar Service API"
API_VERSION = "1.0.0"
API_DESCRIPTION = (
    "Every method requires AWS IAM (SigV4, service `execute-api`). Errors are "
    '`{"error": {"code", "message"}}`. See docs/api.md.'
)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=error_body(code, message),
        headers=headers,
    )


def build_app(*routers: APIGatewayRouter) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)
    for router in routers:
        app.include_router(router)

    @app.exception_handler(ApiError)
    def _api_error(error: ApiError) -> Response:
        count(type(error).__name__)
        log = logger.warning if error.status < 500 else logger.error
        log("request failed", extra={"status": error.status, "code": error.code, "reason": error.message})
        if error.status >= 500 and error.__cause__ is not None:  # what the caller is not told
            log("caused by", exc_info=error.__cause__)
        return _error(error.status, error.code, redact(error.message), error.headers)

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response:
        count("InvalidRequest")
        message = describe_validation_errors(list(error.errors()))
        logger.warning("invalid request", extra={"reason": message})
        return _error(400, "invalid_request", message)

    @app.not_found
    def _no_route(_: Exception) -> Response:
        count("RouteNotFound")
        return _error(404, "not_found", "no such route")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        count("InternalError")
        logger.exception("unexpected error")
        return _error(500, "internal_error", "internal error; the request id is in the logs")

    return app


app = build_app(*ALL_ROUTERS)
