"""The `avatar` CLI's own logic: output file names and required settings (no API involved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from avatar_client.cli import output_paths


def test_output_paths() -> None:
    assert output_paths(Path("a/out.png"), 1)[0].name == "out.png"
    assert [p.name for p in output_paths(Path("out.png"), 3)] == [
        "out-1.png",
        "out-2.png",
        "out-3.png",
    ]


def test_cli_requires_an_endpoint(monkeypatch) -> None:
    monkeypatch.delenv("AVATAR_API_URL", raising=False)
    from avatar_client.cli import main

    with pytest.raises(SystemExit, match="AVATAR_API_URL"):
        main(["models"])
