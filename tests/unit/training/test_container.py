"""The training image's build files: lint-clean, base image overridable, pins in step with the tests."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CONTAINER = ROOT / "containers" / "training"
HADOLINT = Path(sys.executable).parent / "hadolint"


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\[\]-]+)==([^\s#]+)", line)
        if match:
            pins[match[1].split("[")[0].lower().replace("_", "-")] = match[2]
    return pins


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [str(HADOLINT), str(CONTAINER / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_takes_the_base_image_as_an_argument_and_runs_serve() -> None:
    lines = [
        ln for ln in (CONTAINER / "Dockerfile").read_text().splitlines() if ln and not ln.startswith("#")
    ]
    assert lines[0].startswith("ARG BASE_IMAGE=") and lines[1] == "FROM ${BASE_IMAGE}"
    assert 'ENTRYPOINT ["/usr/local/bin/serve"]' in lines
    defaults = dict(re.findall(r"^ARG (\w+)=(\S*)$", "\n".join(lines), flags=re.M))
    for source in re.findall(r"^COPY (?:--\S+ )*(\S+)", "\n".join(lines), flags=re.M):
        source = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m[1]], source)  # build arguments' defaults
        assert (ROOT / source).exists(), source  # build context is the repository root


@pytest.mark.parametrize(
    "package", ["diffusers", "peft", "transformers", "accelerate", "safetensors", "pillow"]
)
def test_image_pins_match_the_tested_versions(package: str) -> None:
    assert _pins(CONTAINER / "requirements.txt")[package] == _pins(ROOT / "requirements-dev.txt")[package]


def test_serve_entrypoint_is_executable() -> None:
    serve = CONTAINER / "serve"
    assert serve.stat().st_mode & 0o111
    assert "training_service.server" in serve.read_text()
