"""`make images` builds the real Dockerfiles: only the build arguments differ from a deployment's build."""

from __future__ import annotations

from pathlib import Path

import pytest

from images import build as build_module
from locks.environments import REPO_ROOT


def test_buildah_gets_the_real_dockerfile_and_only_the_four_build_arguments(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, recorded_commands: list[list[str]]
) -> None:
    monkeypatch.setattr(build_module, "wheelhouse", lambda image, cache: tmp_path)
    monkeypatch.setattr(build_module.bh, "image_size_bytes", lambda tag: 42)
    built = build_module.build("hosting", "localhost/standin:1", tmp_path)
    (command,) = recorded_commands
    assert command[:4] == ["buildah", "bud", "--isolation", "chroot"] and command[-1] == str(REPO_ROOT)
    assert command[command.index("-f") + 1] == "containers/hosting/Dockerfile"
    build_args = [command[i + 1] for i, arg in enumerate(command) if arg == "--build-arg"]
    assert build_args == [
        "BASE_IMAGE=localhost/standin:1",
        "LOCK=images/standin/hosting.lock",
        "WHEELS=/wheels",
        f"TARFILE_WAIVER={build_module.STANDIN_TARFILE_WAIVER}",  # the Debian stand-in's Python only
    ]
    assert command[command.index("--volume") + 1] == f"{tmp_path}:/wheels:ro"
    assert (built.tag, built.size_bytes) == ("localhost/avatar/hosting:standin", 42)
