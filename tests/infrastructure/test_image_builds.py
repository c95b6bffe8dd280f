"""Both Dockerfiles: hadolint clean, hash-locked installs, changed by build arguments only."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HADOLINT = Path(sys.executable).parent / "hadolint"
IMAGES = ("training", "hosting")
BUILD_ARGS = {"BASE_IMAGE", "LOCK", "WHEELS", "TARFILE_WAIVER"}


def dockerfile(image: str) -> str:
    return (ROOT / "containers" / image / "Dockerfile").read_text()


def instructions(image: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", dockerfile(image))
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.parametrize("image", IMAGES)
def test_dockerfile_passes_hadolint(image: str) -> None:
    path = ROOT / "containers" / image / "Dockerfile"
    result = subprocess.run([str(HADOLINT), str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("image", IMAGES)
def test_build_arguments_are_the_base_image_the_lock_and_a_wheel_folder(image: str) -> None:
    args = dict(re.findall(r"^ARG (\w+)=?(\S*)$", "\n".join(instructions(image)), flags=re.M))
    assert set(args) == BUILD_ARGS
    assert args["LOCK"] == f"containers/{image}/requirements.lock" and (ROOT / args["LOCK"]).is_file()
    assert args["WHEELS"] == ""  # a deployment's build installs from the package index
    assert args["TARFILE_WAIVER"] == ""  # a deployment's build waives nothing


@pytest.mark.parametrize("image", IMAGES)
def test_the_build_refuses_a_python_without_the_tarfile_fixes(image: str) -> None:
    """The check runs after our code is copied in, and is given the waiver argument only."""
    lines = instructions(image)
    check = [n for n, line in enumerate(lines) if "-m avatar_runtime.tarfile_fixes" in line]
    assert len(check) == 1, lines
    assert lines[check[0]].endswith('--waive "${TARFILE_WAIVER}"'), lines[check[0]]
    copied = [n for n, line in enumerate(lines) if line.startswith("COPY avatar_runtime/")]
    assert copied and copied[0] < check[0]


def test_a_deployment_passes_no_tarfile_waiver() -> None:
    source = (ROOT / "stacks" / "sagemaker_common.py").read_text()
    assert "TARFILE_WAIVER" not in source and 'build_args={"BASE_IMAGE": base_image}' in source


@pytest.mark.parametrize("image", IMAGES)
def test_python_packages_come_from_the_lock_with_hashes_only(image: str) -> None:
    installs = [line for line in instructions(image) if re.search(r"pip install", line)]
    assert len(installs) == 1, installs
    install = installs[0]
    assert "--require-hashes" in install and "--no-deps" in install
    assert re.search(r"-r /opt/\w+/requirements\.lock$", install), install
    assert re.search(r"^COPY \$\{LOCK\} /opt/\w+/requirements\.lock$", "\n".join(instructions(image)), re.M)


@pytest.mark.parametrize("image", IMAGES)
def test_no_branch_on_how_the_image_is_built(image: str) -> None:
    """Stand-in and deployed builds run the same instructions; only the arguments' values differ."""
    runs = [line for line in instructions(image) if line.startswith("RUN ")]
    assert not [run for run in runs if re.search(r"\b(if|then|case|test)\b|\[ ", run)], runs


def _admitted_by_dockerignore(path: str) -> bool:
    """Whether the build context keeps `path`: the last .dockerignore pattern that matches it decides
    (this file's patterns are `*`, `!<folder>/` and `**/<name>`)."""
    admitted = True
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pattern = line.removeprefix("!").rstrip("/")
        top = path.split("/")[0]
        if pattern == "*" or path == pattern or path.startswith(pattern + "/") or top == pattern:
            admitted = line.startswith("!")
    return admitted


@pytest.mark.parametrize("image", IMAGES)
def test_every_copied_source_is_in_the_build_context(image: str) -> None:
    sources = [
        source
        for line in instructions(image)
        if line.split()[0].upper() == "COPY"
        for source in line.split()[1:-1]
        if not source.startswith(("--", "$"))
    ]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert _admitted_by_dockerignore(source.rstrip("/")), f"{source} is filtered out by .dockerignore"
