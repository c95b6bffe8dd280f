"""Build both images from the real Dockerfiles with `buildah bud` (chroot isolation, no daemon).

The Dockerfiles are used as they are; only their build arguments differ from a deployment's build:
BASE_IMAGE (a stand-in base, see images/standin.py), LOCK (the stand-in lock, images/standin/<image>.lock)
and WHEELS (a wheel folder downloaded once into the cache and mounted read-only into the build, so pip
installs offline and verifies every hash). `--layers` keeps buildah's layer cache between builds.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from images import buildah as bh
from locks.environments import REPO_ROOT, standin_lock_path

WHEELS_MOUNT = "/wheels"
# The Debian stand-ins' Python: 3.11.2 with Debian's patches. Its changelog (through 3.11.2-6+deb12u9)
# carries CVE-2024-6232 (since deb12u4) but not PEP 706's extraction filters, so not the CVE-2025-4517
# family's fixes either: the Dockerfiles' tarfile check refuses it unless named here exactly (docs/images.md).
# Later security revisions of the same series are covered too (avatar_runtime.tarfile_fixes.waived).
STANDIN_TARFILE_WAIVER = "libpython3.11-stdlib=3.11.2-6+deb12u8"


@dataclass(frozen=True)
class Built:
    image: str
    tag: str
    seconds: float
    size_bytes: int


def tag(image: str) -> str:
    return f"localhost/avatar/{image}:standin"


def download_wheels(name: str, lock: Path, folder: Path, target: tuple[str, ...] = ()) -> Path:
    """Every wheel of `lock`, downloaded once (hashes checked) into `folder`. `target`: pip's platform
    options, for wheels of another interpreter than this one. A stamp named after the lock's hash marks it
    done."""
    stamp = folder / f".{name}-{hashlib.sha256(lock.read_bytes()).hexdigest()[:16]}"
    if stamp.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"]
    command += ["--require-hashes", "--only-binary", ":all:", *target, "-d", str(folder), "-r", str(lock)]
    subprocess.run(command, check=True)
    stamp.touch()
    return folder


def wheelhouse(image: str, cache: Path) -> Path:
    """Every wheel of the image's stand-in lock, downloaded once (hashes checked) into the cache."""
    return download_wheels(image, REPO_ROOT / standin_lock_path(image), cache / "wheels")


def bud_command(
    image: str, tag: str, base_image: str, wheels: Path, lock: Path | None, waiver: str
) -> list[str]:
    """`buildah bud` of the image's real Dockerfile; `lock` None: the Dockerfile's own (the image lock)."""
    command = ["buildah", "bud", "--isolation", bh.ISOLATION, "--layers", "--quiet"]
    command += ["-f", f"containers/{image}/Dockerfile", "-t", tag, "--build-arg", f"BASE_IMAGE={base_image}"]
    command += [] if lock is None else ["--build-arg", f"LOCK={lock}"]
    command += ["--build-arg", f"WHEELS={WHEELS_MOUNT}", "--volume", f"{wheels}:{WHEELS_MOUNT}:ro"]
    command += ["--build-arg", f"TARFILE_WAIVER={waiver}"]
    return [*command, str(REPO_ROOT)]


def run_bud(image: str, command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise bh.BuildahError(f"building {image} failed:\n{(result.stdout + result.stderr)[-6000:]}")


def build(image: str, base_image: str, cache: Path) -> Built:
    started = time.monotonic()  # the wheel download (cold only) counts as part of the build
    wheels = wheelhouse(image, cache).resolve()
    lock = standin_lock_path(image)
    run_bud(image, bud_command(image, tag(image), base_image, wheels, lock, STANDIN_TARFILE_WAIVER))
    return Built(image, tag(image), time.monotonic() - started, bh.image_size_bytes(tag(image)))
