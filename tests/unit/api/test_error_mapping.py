"""The one mapping of domain errors to HTTP (routers.common.STATUS_OF): every error code has one status,
and the domain's errors carry a code and a retry time, never an HTTP status (issue 22 item 3)."""

from __future__ import annotations

import pytest

from avatar_api import errors
from avatar_api.routers.common import STATUS_OF, error_headers, http_status
from avatar_contract.status import ErrorCode


def _error_classes() -> list[type[errors.ApiError]]:
    found, todo = [], [errors.ApiError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    # Refusal and RetryLater: the bases of the 4xx ones
    return [cls for cls in found if cls not in (errors.Refusal, errors.RetryLater)]


def test_every_error_code_has_one_status() -> None:
    assert set(STATUS_OF) == set(ErrorCode)


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda cls: cls.__name__)
def test_domain_errors_know_no_http(cls: type[errors.ApiError]) -> None:
    assert not hasattr(cls, "status") and not hasattr(cls, "headers")
    # A refusal is the caller's (metered, docs/limits.md): exactly the 4xx answers.
    assert cls.caller_fault == (STATUS_OF[cls.code] < 500)


def test_retry_after_becomes_the_header() -> None:
    busy = errors.ServiceUnavailable("busy", retry_after=7)
    assert (http_status(busy), error_headers(busy)) == (503, {"Retry-After": "7"})
    assert error_headers(errors.NotFound("gone")) == {}
