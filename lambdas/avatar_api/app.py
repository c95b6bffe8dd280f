"""The REST resolver: routers, validation, and the error answers (statuses from `routers.common.STATUS_OF`).

`build_app(*routers)` is what each Lambda handler uses with its own routers; `app` holds every route
(for the OpenAPI document and for callers that serve the whole API from one process)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from avatar_api.errors import ApiError, describe_validation_errors, error_body, redact
from avatar_api.observability import count, logger
from avatar_api.routers import generations, models, pack_jobs, packs, trainings
from avatar_api.routers.common import STATUS_OF, error_headers, http_status
from avatar_contract.status import ErrorCode

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


def _error(status: int, code: ErrorCode, message: str, headers: dict[str, str] | None = None) -> Response:
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
        status = http_status(error)
        log = logger.warning if status < 500 else logger.error
        log("request failed", extra={"status": status, "code": error.code, "reason": error.message})
        if status >= 500 and error.__cause__ is not None:  # what the caller is not told
            log("caused by", exc_info=error.__cause__)
        return _error(status, error.code, redact(error.message), error_headers(error) or None)

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response:
        count("InvalidRequest")
        message = describe_validation_errors(list(error.errors()))
        logger.warning("invalid request", extra={"reason": message})
        return _error(STATUS_OF[ErrorCode.INVALID_REQUEST], ErrorCode.INVALID_REQUEST, message)

    @app.not_found
    def _no_route(_: Exception) -> Response:
        count("RouteNotFound")
        return _error(STATUS_OF[ErrorCode.NOT_FOUND], ErrorCode.NOT_FOUND, "no such route")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        count("InternalError")
        logger.exception("unexpected error")
        message = "internal error; the request id is in the logs"
        return _error(STATUS_OF[ErrorCode.INTERNAL_ERROR], ErrorCode.INTERNAL_ERROR, message)

    return app


app = build_app(*ALL_ROUTERS)
