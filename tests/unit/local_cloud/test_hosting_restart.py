"""The local cloud's hosting container: started again once when it does not become ready (a hung Triton
Python stub), never when it failed for a reason a restart cannot fix."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hosting_server import triton
from hosting_server.triton import TritonNotReady, TritonStartError
from local_cloud import cloud as cloud_module
from local_cloud.cloud import LocalCloud


def _cloud(tmp_path: Path) -> Any:
    return SimpleNamespace(
        base_model=tmp_path, ports={"hosting": 1}, log_dir=tmp_path, _container_env=lambda name: {}
    )


def _launcher(failures: list[Exception]) -> tuple[list[float], Any]:
    timeouts: list[float] = []

    def start_triton(**options: Any) -> str:
        timeouts.append(options["startup_timeout_s"])
        if failures:
            raise failures.pop(0)
        return "running"

    return timeouts, start_triton


def test_a_hosting_container_that_is_not_ready_is_started_once_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    timeouts, start = _launcher([TritonNotReady("not healthy after 90s")])
    monkeypatch.setattr(triton, "start_triton", start)
    fake = _cloud(tmp_path)
    LocalCloud._start_hosting(fake)
    assert fake.hosting == "running"
    assert timeouts == [cloud_module.HOSTING_FIRST_START_TIMEOUT, cloud_module.CONTAINER_START_TIMEOUT]


def test_a_second_hang_or_any_other_start_error_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    timeouts, start = _launcher([TritonNotReady("first"), TritonNotReady("second")])
    monkeypatch.setattr(triton, "start_triton", start)
    with pytest.raises(TritonNotReady, match="second"):
        LocalCloud._start_hosting(_cloud(tmp_path))
    assert len(timeouts) == 2

    timeouts, start = _launcher([TritonStartError("tritonserver exited with 1")])
    monkeypatch.setattr(triton, "start_triton", start)
    with pytest.raises(TritonStartError, match="exited"):
        LocalCloud._start_hosting(_cloud(tmp_path))
    assert len(timeouts) == 1
