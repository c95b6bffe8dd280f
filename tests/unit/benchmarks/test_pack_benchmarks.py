"""The issue 25 benchmarks without running them: they are registered for `--only`, and the throughput
benchmark tells a missing pack route (skip, with the reason) from an existing one."""

from __future__ import annotations

import pytest

from avatar_client import AvatarApiError
from benchmarks.__main__ import main, registry
from benchmarks.bench_packs import PROMPTS, UNKNOWN_MODEL, route_missing


class Refusing:
    def __init__(self, status: int, code: str) -> None:
        self.error = AvatarApiError(status, code, code)
        self.calls: list[tuple[str, dict]] = []

    def start_pack(self, model_id: str, **kwargs: object) -> dict:
        self.calls.append((model_id, kwargs))
        raise self.error


def test_the_benchmarks_are_registered_and_unknown_names_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert {"finishing", "packs"} <= set(registry())
    with pytest.raises(SystemExit):
        main(["--only", "finishing,no-such-bench"])
    assert "unknown benchmark(s): no-such-bench" in capsys.readouterr().err


def test_a_missing_route_is_a_skip_with_its_reason() -> None:
    client = Refusing(404, "not_found")
    assert "no pack routes" in str(route_missing(client))
    assert client.calls == [(UNKNOWN_MODEL, {"prompts": PROMPTS[:1]})]
    # what the local cloud's API Gateway (and AWS's) answers for a route it does not have
    assert "answers 403 MISSING_AUTHENTICATION_TOKEN" in str(
        route_missing(Refusing(403, "MISSING_AUTHENTICATION_TOKEN"))
    )
    assert route_missing(Refusing(404, "model_not_found")) is None
    with pytest.raises(AvatarApiError):
        route_missing(Refusing(403, "forbidden"))
    with pytest.raises(AvatarApiError):
        route_missing(Refusing(500, "internal_error"))


def test_the_pack_is_eight_images_over_three_prompts() -> None:
    assert len(PROMPTS) == 3 and sum(prompt["images"] for prompt in PROMPTS) == 8
