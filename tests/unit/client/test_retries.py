"""Which API answers the client retries: one classification (`AvatarApiError.retryable`) for trainings
and generations alike."""

from __future__ import annotations

import json

import pytest

from avatar_client import AvatarApiError
from tests.unit.client.helpers import client_of

pytestmark = pytest.mark.usefixtures("no_sleep")
GENERATED = {"model_id": "m-x", "seed": 1, "images": [{"content_type": "image/png", "data": "iVBORw=="}]}


class ScriptedTransport:
    """Answers each API call with the next (status, body) of a script."""

    def __init__(self, *answers: tuple[int, dict]) -> None:
        self.answers = list(answers)
        self.sent: list[dict[str, str]] = []

    def __call__(self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float):
        self.sent.append(headers)
        status, document = self.answers.pop(0)
        return status, {"Retry-After": "1"} if status == 503 else {}, json.dumps(document).encode()


def error(status: int, code: str) -> tuple[int, dict]:
    return status, {"error": {"code": code, "message": code}}


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (429, True),
        (503, True),
        (504, True),
        (500, False),
        (502, False),
        (400, False),
        (404, False),
        (409, False),
    ],
)
def test_retryable_statuses(status: int, retryable: bool) -> None:
    assert AvatarApiError(status, "x", "y").retryable is retryable


def test_training_is_retried_on_503_with_the_same_idempotency_key() -> None:
    accepted = {"training_id": "t-x", "status": "queued"}
    transport = ScriptedTransport(error(503, "service_unavailable"), (202, accepted))
    assert client_of(transport).start_training([b"x"] * 10, prepare=False) == accepted
    assert len({headers["Idempotency-Key"] for headers in transport.sent}) == 1 and len(transport.sent) == 2


@pytest.mark.parametrize("status", [500, 502])
def test_training_is_not_retried_on_errors_that_repeat(status: int) -> None:
    transport = ScriptedTransport(error(status, "upstream_error"), (202, {}))
    with pytest.raises(AvatarApiError) as refused:
        client_of(transport).start_training([b"x"] * 10, prepare=False)
    assert refused.value.status == status and len(transport.sent) == 1


def test_generation_is_retried_on_503_and_not_on_502() -> None:
    transport = ScriptedTransport(error(503, "service_unavailable"), (200, GENERATED))
    assert client_of(transport).generate("m-x", "hi").seed == 1
    transport = ScriptedTransport(error(502, "upstream_error"), (200, GENERATED))
    with pytest.raises(AvatarApiError):
        client_of(transport).generate("m-x", "hi")
    assert len(transport.sent) == 1


def test_training_in_progress_is_retried_with_the_same_key_and_a_quota_is_not() -> None:
    accepted = {"training_id": "t-x", "status": "queued", "replayed": True}
    transport = ScriptedTransport(error(409, "request_in_progress"), (202, accepted))
    assert client_of(transport).start_training([b"x"] * 10, prepare=False) == accepted
    assert len({headers["Idempotency-Key"] for headers in transport.sent}) == 1 and len(transport.sent) == 2
    transport = ScriptedTransport(error(429, "quota_exceeded"), (202, accepted))
    with pytest.raises(AvatarApiError) as refused:
        client_of(transport).start_training([b"x"] * 10, prepare=False)
    assert refused.value.code == "quota_exceeded" and not refused.value.retryable and len(transport.sent) == 1
    transport = ScriptedTransport(error(409, "conflict"), (202, accepted))
    with pytest.raises(AvatarApiError):
        client_of(transport).start_training([b"x"] * 10, prepare=False)
