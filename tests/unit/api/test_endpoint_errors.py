"""One classification of SageMaker runtime failures (`EndpointError.retryable`) and one mapping of it
to what the caller sees (503 + Retry-After, or 502), for both endpoints."""

from __future__ import annotations

import pytest

from avatar_api.errors import EndpointError, ServiceUnavailable, UpstreamError, endpoint_failure
from avatar_api.routers.common import error_headers, http_status


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ServiceUnavailable", 503),
        ("InternalFailure", 500),
        ("ThrottlingException", 400),
        ("ModelNotReadyException", 429),
        ("ModelError", 507),
        ("Timeout", 504),
        ("BadGateway", 502),
    ],
)
def test_transient_failures_are_retryable(code: str, status: int) -> None:
    assert EndpointError("x", code=code, status=status).retryable


@pytest.mark.parametrize(
    ("code", "status"),
    [("ValidationError", 400), ("ModelError", 424), ("AccessDeniedException", 403), ("", 0)],
)
def test_failures_that_repeat_are_not_retryable(code: str, status: int) -> None:
    assert not EndpointError("x", code=code, status=status).retryable


def test_retryable_failures_map_to_503_with_retry_after() -> None:
    error = endpoint_failure(
        EndpointError("busy", code="ThrottlingException", status=400), "model endpoint", retry_after=30
    )
    assert isinstance(error, ServiceUnavailable)
    assert (http_status(error), error.code, error_headers(error)) == (
        503,
        "service_unavailable",
        {"Retry-After": "30"},
    )
    assert "model endpoint" in error.message and "ThrottlingException" in error.message


def test_other_failures_map_to_502_naming_the_endpoint_and_reason() -> None:
    error = endpoint_failure(EndpointError("boom", code="ModelError", status=424), "training endpoint")
    assert isinstance(error, UpstreamError)
    assert (http_status(error), error.code) == (502, "upstream_error")
    # SageMaker's own message names the account and its log group: it stays in the logs (issue 21 L7).
    assert error.message == "the training endpoint failed (ModelError)"
