"""Shared fixtures of the image-build tests."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from images import build as build_module


@pytest.fixture
def recorded_commands(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The commands `images.build` (and `images.cuda`, through it) runs, recorded instead of run: each
    one succeeds with no output."""
    calls: list[list[str]] = []

    def run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(build_module.subprocess, "run", run)
    return calls
