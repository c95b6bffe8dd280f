"""`make images-cuda` builds what deploys: the real Dockerfiles with their own lock, CPython 3.12 wheels."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from images import cuda
from images.standin import BOOKWORM, NOBLE, debootstrap_command, python_key
from locks.environments import IMAGES, REPO_ROOT, lock_path, read_pins


def _build_args(command: list[str]) -> list[str]:
    return [command[i + 1] for i, arg in enumerate(command) if arg == "--build-arg"]


@pytest.mark.parametrize("image", IMAGES)
def test_the_cuda_build_installs_the_dockerfiles_own_lock_with_no_waiver(image: str, tmp_path: Path) -> None:
    command = cuda.build_command(image, "localhost/avatar-standin/python:noble", tmp_path)
    assert command[:4] == ["buildah", "bud", "--isolation", "chroot"] and command[-1] == str(REPO_ROOT)
    assert command[command.index("-f") + 1] == f"containers/{image}/Dockerfile"
    assert _build_args(command) == [
        "BASE_IMAGE=localhost/avatar-standin/python:noble",
        "WHEELS=/wheels",
        "TARFILE_WAIVER=",  # the deployed check: the stand-in's Python must pass it
    ]
    assert command[command.index("--volume") + 1] == f"{tmp_path}:/wheels:ro"
    # No LOCK argument: the Dockerfile's default is what gets installed, and that default is the image lock.
    dockerfile = (REPO_ROOT / "containers" / image / "Dockerfile").read_text()
    default = re.search(r"^ARG LOCK=(\S+)$", dockerfile, re.M)
    assert default is not None and default[1] == str(lock_path(image))
    assert command[command.index("-t") + 1] == f"localhost/avatar/{image}:cuda"


def test_the_wheels_are_cpython_3_12_manylinux_wheels_of_the_real_lock(
    tmp_path: Path, recorded_commands: list[list[str]]
) -> None:
    assert cuda.wheelhouse("hosting", tmp_path) == tmp_path / "wheels-cp312"
    (command,) = recorded_commands
    assert command[command.index("-r") + 1] == str(REPO_ROOT / "containers/hosting/requirements.lock")
    assert {"--require-hashes", "--no-deps"} <= set(command)
    assert command[command.index("--only-binary") + 1] == ":all:"
    assert command[command.index("--python-version") + 1] == "3.12"
    assert command[command.index("--abi") + 1] == "cp312"
    # torch's manylinux_2_28 and older tags, up to the DLC's glibc 2.35
    platforms = [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]
    assert "manylinux_2_28_x86_64" in platforms and "manylinux2014_x86_64" in platforms
    assert "manylinux_2_35_x86_64" in platforms and "manylinux_2_36_x86_64" not in platforms
    # Done once per lock content: a second call downloads nothing.
    assert cuda.wheelhouse("hosting", tmp_path) == tmp_path / "wheels-cp312" and len(recorded_commands) == 1


def test_the_import_check_must_report_the_locked_versions_and_cuda_major() -> None:
    lock = read_pins(lock_path("training"))
    good: dict[str, str | None] = {name: lock[name] for name in cuda.CHECKED_MODULES}
    good["cuda"] = lock["nvidia-cuda-runtime"].split(".")[0] + ".0"
    assert cuda.mismatches(good, lock) == []
    assert cuda.mismatches(good | {"torch": lock["torch"] + "+cu130"}, lock) == []  # PyPI's torch says so
    cuda_major = lock["nvidia-cuda-runtime"].split(".")[0]
    assert cuda.mismatches(good | {"torch": lock["torch"] + "+cpu", "cuda": None}, lock) == [
        f"cuda: imported None, locked {cuda_major}"  # a CPU build
    ]
    assert cuda.mismatches(good | {"transformers": "4.0.0", "cuda": "12.8"}, lock) == [
        f"transformers: imported 4.0.0, locked {lock['transformers']}",
        f"cuda: imported 12.8, locked {cuda_major}",
    ]
    assert cuda.mismatches({k: v for k, v in good.items() if k != "peft"}, lock) == [
        f"peft: imported None, locked {lock['peft']}"
    ]
    assert cuda.IMPORT_CHECK.startswith("import json, torch, diffusers, peft, transformers;")


def test_the_noble_stand_in_is_ubuntu_24_04_with_python_3_12_beside_the_bookworm_one(
    tmp_path: Path,
) -> None:
    command = debootstrap_command(NOBLE, tmp_path)
    assert command[-4:] == ["noble", str(tmp_path), NOBLE.mirror, "/usr/share/debootstrap/scripts/gutsy"]
    assert "--components=main,universe" in command and "libpython3.12t64" in command[2]
    assert NOBLE.stub_python == "3.12" and any("noble-security" in line for line in NOBLE.upgrade_sources)
    assert debootstrap_command(BOOKWORM, tmp_path)[-3:] == ["bookworm", str(tmp_path), BOOKWORM.mirror]
    assert "--no-check-gpg" not in debootstrap_command(BOOKWORM, tmp_path)
    assert {NOBLE.python_image, NOBLE.triton_image}.isdisjoint({BOOKWORM.python_image, BOOKWORM.triton_image})
    assert python_key(NOBLE) != python_key(BOOKWORM)
