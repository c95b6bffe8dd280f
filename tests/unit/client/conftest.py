"""What the client's unit tests share: waits that take no time (`no_sleep`)."""

from __future__ import annotations

import pytest


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """`time.sleep` returns at once: the client's retries and polls wait for nothing."""
    monkeypatch.setattr("time.sleep", lambda _: None)
