"""What is tested is what deploys: the images' lock files agree with development, with each other and with
their top-level requirements (docs/images.md). Regenerate them with `make locks`."""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ("training", "hosting")
# What only CUDA torch needs; the stand-in locks (CPU torch) leave exactly these out.
CUDA_ONLY = re.compile(r"^(nvidia-.+|cuda-.+|triton)$")
STANDIN_ENV = {"python_version": "3.11", "python_full_version": "3.11.2", "sys_platform": "linux"}
STANDIN_ENV |= {"platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix"}

_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*;\s*(.+?))?\s*\\?$")
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)")


@dataclass(frozen=True)
class Entry:
    version: str
    marker: str | None
    hashes: frozenset[str]
    via: frozenset[str]


def read_lock(path: Path) -> dict[str, Entry]:
    """A pip-compile style lock: `name==version [; marker] \\`, `--hash=` lines, `# via` annotations."""
    entries: dict[str, Entry] = {}
    current: dict | None = None
    lines = path.read_text().splitlines()
    for index, line in enumerate(lines):
        match = _ENTRY.match(line)
        if match:
            current = {"name": canonicalize_name(match[1]), "version": match[2], "marker": match[3]}
            current |= {"hashes": set(), "via": set()}
            entries[current["name"]] = current  # type: ignore[assignment]
        elif current is not None and line.strip().startswith("--hash=sha256:"):
            current["hashes"].add(line.strip().split(":", 1)[1].rstrip(" \\"))
        elif current is not None and line.startswith("    # via"):
            via = [line.removeprefix("    # via").strip()]
            for following in lines[index + 1 :]:
                if not following.startswith("    #   "):
                    break
                via.append(following.removeprefix("    #   ").strip())
            current["via"].update(v for v in via if v)
    return {
        name: Entry(e["version"], e["marker"], frozenset(e["hashes"]), frozenset(e["via"]))  # type: ignore[index]
        for name, e in entries.items()
    }


def read_pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip().startswith("-r "):
            pins |= read_pins(path.parent / line.split(maxsplit=1)[1])
        elif match := _PIN.match(line):
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def lock(image: str) -> dict[str, Entry]:
    return read_lock(ROOT / "containers" / image / "requirements.lock")


def standin_lock(image: str) -> dict[str, Entry]:
    return read_lock(ROOT / "images" / "standin" / f"{image}.lock")


def public(version: str) -> str:
    return Version(version).public


DEV = read_pins(ROOT / "requirements-dev.txt")
# The one documented difference: the hosting image keeps the NumPy 1.x of the Triton Python stub.
EXCEPTIONS = {("hosting", "numpy"): read_pins(ROOT / "containers" / "hosting" / "triton-stub.txt")["numpy"]}


@pytest.mark.parametrize("image", IMAGES)
def test_every_locked_package_has_a_version_and_hashes(image: str) -> None:
    entries = lock(image)
    assert "torch" in entries and len(entries) > 40
    assert not [name for name, entry in entries.items() if not entry.hashes]


@pytest.mark.parametrize("image", IMAGES)
def test_lock_is_in_sync_with_the_image_requirements(image: str) -> None:
    top_level = read_pins(ROOT / "containers" / image / "requirements.txt")
    entries = lock(image)
    assert {name: entries[name].version for name in top_level if name in entries} == top_level
    source = f"-r containers/{image}/"
    top = {name for name, entry in entries.items() if any(via.startswith(source) for via in entry.via)}
    assert top == set(top_level)


@pytest.mark.parametrize("image", IMAGES)
def test_image_versions_are_the_development_pins(image: str) -> None:
    entries = lock(image)
    differ = {
        name: (entries[name].version, version)
        for name, version in DEV.items()
        if name in entries and entries[name].version != EXCEPTIONS.get((image, name), version)
    }
    assert not differ, f"(lock, requirements-dev.txt) differ; run `make locks`: {differ}"


def test_packages_in_both_images_have_one_version_torch_included() -> None:
    training, hosting = lock("training"), lock("hosting")
    assert training["torch"].version == hosting["torch"].version == DEV["torch"]
    assert hosting["numpy"].version == EXCEPTIONS[("hosting", "numpy")]
    differ = {
        name: (training[name].version, hosting[name].version)
        for name in set(training) & set(hosting)
        if training[name].version != hosting[name].version and ("hosting", name) not in EXCEPTIONS
    }
    assert not differ, differ


@pytest.mark.parametrize("image", IMAGES)
def test_the_development_environment_runs_the_locked_versions(image: str) -> None:
    """Every locked package installed here (the environment the tests run in) is at the locked version
    (torch's local label, +cpu, aside)."""
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    entries = lock(image)
    differ = {
        name: (entry.version, installed[name])
        for name, entry in entries.items()
        if name in installed and public(installed[name]) != entry.version and (image, name) not in EXCEPTIONS
    }
    assert not differ, f"(lock, installed) differ: {differ}"


@pytest.mark.parametrize("image", IMAGES)
def test_standin_lock_differs_from_the_image_lock_only_in_cuda_torch(image: str) -> None:
    real, standin = lock(image), standin_lock(image)
    assert standin["torch"].version == f"{real['torch'].version}+cpu"
    for name, entry in standin.items():
        if name != "torch":
            assert name in real, f"{name} is in the stand-in lock only"
            assert (entry.version, entry.hashes) == (real[name].version, real[name].hashes), name
    left_out = {
        name
        for name, entry in real.items()
        if name not in standin and (entry.marker is None or Marker(entry.marker).evaluate(STANDIN_ENV))
    }
    assert left_out and all(CUDA_ONLY.match(name) for name in left_out), left_out
