"""What the Lambda functions run is what the tests run: `lambdas/requirements.lock` pins the whole
dependency closure with hashes (bundled into the code asset), each pin equals requirements-dev.txt where
both name a package, and the environment running these tests (`.venv` or `make test-lambda`'s
`.venv-lambda`) has exactly those releases installed."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]
LAMBDA_REQUIREMENTS = ROOT / "lambdas" / "requirements.txt"
LAMBDA_LOCK = ROOT / "lambdas" / "requirements.lock"
LAMBDA_TEST_REQUIREMENTS = ROOT / "lambdas" / "requirements-test.txt"
LAMBDA_TEST_LOCK = ROOT / "lambdas" / "requirements-test.lock"
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"
# The Lambda runtime: Python 3.12 on Amazon Linux 2023 (arm64 or x86_64).
LAMBDA_MARKERS = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "platform_machine": "aarch64",
}


def pins(path: Path) -> dict[str, Requirement]:
    """name -> requirement of every `name==version` line, following `-r` includes."""
    found: dict[str, Requirement] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip().removesuffix("\\").strip()
        if line.startswith("-r"):
            found |= pins(path.parent / line[2:].strip())
        elif line and not line.startswith("-"):
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def version(requirement: Requirement) -> str:
    [spec] = requirement.specifier
    assert spec.operator == "==", f"{requirement} is not pinned with =="
    return spec.version


def test_every_lambda_requirement_is_pinned_to_one_release() -> None:
    for path in (LAMBDA_REQUIREMENTS, LAMBDA_TEST_REQUIREMENTS, LAMBDA_LOCK, LAMBDA_TEST_LOCK):
        for requirement in pins(path).values():
            assert re.fullmatch(r"[0-9][0-9a-z.]*", version(requirement)), requirement


def test_lambda_pins_equal_the_development_pins() -> None:
    dev = pins(DEV_REQUIREMENTS)
    shared = 0
    for name, requirement in pins(LAMBDA_TEST_REQUIREMENTS).items():
        if name in dev:
            shared += 1
            assert version(requirement) == version(dev[name]), (
                f"{name}: Lambda {requirement}, dev {dev[name]}"
            )
    assert shared >= 6  # powertools, pydantic, pillow, boto3, pytest, moto, requests at least


def test_the_lambda_lock_is_a_complete_closure() -> None:
    """Every dependency (for Python 3.12 on Linux arm64) of a bundled package is itself locked, so the
    asset (installed `--no-deps`) lacks nothing."""
    bundled = pins(LAMBDA_LOCK)
    for name, requirement in bundled.items():
        extras = requirement.extras or {""}
        for raw in metadata.requires(name) or []:
            dependency = Requirement(raw)
            if dependency.marker is not None and not any(
                dependency.marker.evaluate(LAMBDA_MARKERS | {"extra": extra}) for extra in extras
            ):
                continue
            dep_name = canonicalize_name(dependency.name)
            assert dep_name in bundled, f"{name} needs {dependency}, which lambdas/requirements.lock lacks"
            assert dependency.specifier.contains(version(bundled[dep_name]), prereleases=True), (
                f"{name} needs {dependency}; pinned {bundled[dep_name]}"
            )


def test_this_environment_runs_exactly_the_pinned_releases() -> None:
    for name, requirement in (pins(LAMBDA_TEST_LOCK) | pins(LAMBDA_LOCK)).items():
        assert metadata.version(name) == version(requirement), f"{name} installed differs from {requirement}"
