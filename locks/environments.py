"""Every Python environment of the project and the lock it installs from (docs/development.md#locks).

One set of top-level pins (`requirements-dev.txt` with `requirements.txt`, and each environment's own
`requirements.txt`) is resolved by `make locks` into one hash-pinned lock per environment. Every lock but
the development one is resolved with the development lock as a constraint, less the packages the
environment pins itself: a package shared by two environments has one version, transitive ones included.
The few documented exceptions are visible as an environment's own pin (the hosting image's NumPy 1.x,
the web app's Pillow 12).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Nothing uploaded to the index after this instant is considered, files of an existing release included,
# so `make locks` gives the same locks on any day. Move it forward to take new releases.
EXCLUDE_NEWER = "2026-12-07T00:00:00Z"
LINUX_X86_64 = "x86_64-manylinux_2_28"
DEPLOYED_PYTHON = "3.12"  # the images' Python (the SageMaker bases) and the Lambda runtime's
# The CPU build of torch (the development environment and the images' stand-ins): pip's and uv's
# find-links. On these machines it lies in /opt/wheels; elsewhere: https://download.pytorch.org/whl/cpu/torch/
TORCH_CPU_WHEELS = "/opt/wheels"

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;#\\]+)")


@dataclass(frozen=True)
class Environment:
    """One environment: its top-level pins, its lock, the interpreter and platform it is resolved for."""

    name: str
    requirements: Path
    lock: Path
    python: str
    platform: str | None  # uv's --python-platform; None: universal (every platform, with markers)
    constrained_by: tuple[str, ...] = ("dev",)
    options: tuple[str, ...] = ()
    cpu_torch: bool = False  # torch from TORCH_CPU_WHEELS (find-links), not the index's CUDA build
    installs: str = ""  # who installs the lock (docs)


ENVIRONMENTS: tuple[Environment, ...] = (
    Environment(
        "tools", Path("locks/tools.txt"), Path("locks/tools.lock"), "3.11", None, (),
        installs="`make locks`' own uv (.images/tools)",
    ),
    Environment(
        "dev", Path("requirements-dev.txt"), Path("requirements-dev.lock"), "3.11", LINUX_X86_64, (),
        ("--no-emit-package", "avatar-client", "--no-emit-package", "avatar-contract"), cpu_torch=True,
        installs="`make setup`: .venv (tests, local cloud, CDK, benchmarks), CPU torch",
    ),
    Environment(
        # its wheels are tagged manylinux_2_35 (glibc 2.35: Debian 12 has 2.36)
        "triton", Path("requirements-triton.txt"), Path("requirements-triton.lock"), "3.11",
        "x86_64-manylinux_2_35", (),
        ("--no-deps",), installs="`make setup`: the local Triton's binaries into .venv (--no-deps)",
    ),
    Environment(
        "triton-stub", Path("containers/hosting/triton-stub.txt"),
        Path("containers/hosting/triton-stub.lock"), "3.11", None, (), ("--no-deps",),
        installs="the Triton Python stub's NumPy 1.x (hosting_server.triton, a folder of its own)",
    ),
    Environment(
        # Resolved for x86_64 with no markers (pip --platform evaluates markers against the interpreter
        # running it); the lock's hashes cover every wheel of each release, arm64's included.
        "lambda", Path("lambdas/requirements.txt"), Path("lambdas/requirements.lock"), "3.12", LINUX_X86_64,
        installs="the API functions' code asset (stacks/lambda_code.py), both architectures",
    ),
    Environment(
        "lambda-test", Path("lambdas/requirements-test.txt"), Path("lambdas/requirements-test.lock"), "3.12",
        LINUX_X86_64, ("dev", "lambda"), installs="`make test-lambda`: .venv-lambda (CPython 3.12)",
    ),
    Environment(
        "webui", Path("webui/requirements.txt"), Path("webui/requirements.lock"), "3.11", LINUX_X86_64,
        options=("--no-emit-package", "avatar-client", "--no-emit-package", "avatar-contract"),
        installs="`make ui`: .venv-webui",
    ),
    Environment(
        "training", Path("containers/training/requirements.txt"),
        Path("containers/training/requirements.lock"), "3.11", None,
        options=("--fork-strategy", "fewest", "--no-strip-markers"),
        installs="the training image (CUDA torch; deployed on CPython 3.12)",
    ),
    Environment(
        "hosting", Path("containers/hosting/requirements.txt"), Path("containers/hosting/requirements.lock"),
        "3.11", None, options=("--fork-strategy", "fewest", "--no-strip-markers"),
        installs="the hosting image (CUDA torch; deployed on CPython 3.12)",
    ),
)  # fmt: skip
IMAGES = ("training", "hosting")


def environment(name: str) -> Environment:
    return next(env for env in ENVIRONMENTS if env.name == name)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_path(image: str) -> Path:
    """An image's lock (`containers/<image>/requirements.lock`)."""
    return environment(image).lock


def standin_lock_path(image: str) -> Path:
    """The `make images` stand-in's lock: the image lock's versions and hashes with the CPU torch."""
    return Path("images/standin") / f"{image}.lock"


def read_pins(path: Path, root: Path = REPO_ROOT) -> dict[str, str]:
    """`name==version` pins of a requirements or lock file (following `-r` includes); name normalized."""
    pins: dict[str, str] = {}
    for line in (root / path).read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith(("-r ", "--requirement ")):
            pins.update(read_pins(path.parent / stripped.split(maxsplit=1)[1], root))
            continue
        match = _PIN.match(line)
        if match:
            pins[normalize(match[1])] = match[3]
    return pins


def requirement_files(path: Path, root: Path = REPO_ROOT) -> list[Path]:
    """`path` and every file it includes with `-r` (what a lock's inputs digest covers)."""
    files = [path]
    for line in (root / path).read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith(("-r ", "--requirement ")):
            files += requirement_files(path.parent / stripped.split(maxsplit=1)[1], root)
    return files


def constraints(env: Environment, root: Path = REPO_ROOT) -> list[str]:
    """The locked versions of the environments `env` is constrained by, less the packages it pins itself."""
    own = read_pins(env.requirements, root)
    locked: dict[str, str] = {}
    for name in env.constrained_by:
        locked |= read_pins(environment(name).lock, root)
    return [f"{name}=={version}" for name, version in sorted(locked.items()) if name not in own]
