"""Stand-ins for the SageMaker base images, built from Debian packages with debootstrap (no registry).

- `python` stand-in (for the PyTorch DLC): Debian bookworm with Python 3.11 and pip. Like the DLC's
  Python (and unlike Debian's), pip may install into the system interpreter.
- `triton` stand-in (for SageMaker's Triton image): the `python` stand-in plus `tritonserver`, its
  Python backend and the stub for Python 3.11 where the Triton image keeps them (/opt/tritonserver), from
  the nvidia-pytriton wheel pinned in requirements-triton.txt, and an entry point that execs its arguments
  (as the Triton image's /opt/nvidia/nvidia_entrypoint.sh does).

The debootstrap root is cached as a tarball in the cache folder; each stand-in image carries a label with
the hash of what made it, so an unchanged stand-in is not rebuilt.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from images import buildah as bh
from locks.environments import REPO_ROOT, read_pins

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# What the DLC's and the Triton image's Python provide that the code needs: the interpreter, pip, CA
# certificates (boto3 over TLS) and libpython (linked by the Triton Python backend stub).
PACKAGES = ("python3", "python3-pip", "python-is-python3", "ca-certificates", "libpython3.11")
PYTHON_IMAGE = "localhost/avatar-standin/python:bookworm"
TRITON_IMAGE = "localhost/avatar-standin/tritonserver:bookworm"
TRITON_REQUIREMENTS = Path("requirements-triton.txt")  # the nvidia-pytriton pin (installed --no-deps)
KEY_LABEL = "avatar.standin.key"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STUB_PYTHON = "3.11"
ENTRYPOINT = "/opt/nvidia/nvidia_entrypoint.sh"
ENTRYPOINT_SCRIPT = """#!/bin/sh
# Stand-in for the Triton image's entry point: run the command it is given.
exec "$@"
"""


@dataclass(frozen=True)
class StandIns:
    python: str
    triton: str
    built: tuple[str, ...]  # which of them this call (re)built


def _key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def python_key() -> str:
    return _key(SUITE, MIRROR, *PACKAGES, Path(__file__).read_text())


def rootfs_tarball(cache: Path) -> Path:
    """The debootstrap root (minbase + PACKAGES), built once and kept as a tarball."""
    tarball = cache / f"rootfs-{SUITE}-{python_key()}.tar"
    if tarball.is_file():
        return tarball
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".rootfs-") as tmp:
        root = Path(tmp) / "root"
        include = f"--include={','.join(PACKAGES)}"
        command = ["debootstrap", "--variant=minbase", include, SUITE, str(root), MIRROR]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (root / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        # The DLC's Python is not "externally managed": pip installs into it (PEP 668 marker removed).
        for marker in root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], check=True)
        for stale in cache.glob(f"rootfs-{SUITE}-*.tar"):  # made by an older version of this file
            stale.unlink()
        partial.rename(tarball)
    return tarball


def build_python(cache: Path) -> bool:
    key = python_key()
    if bh.image_label(PYTHON_IMAGE, KEY_LABEL) == key:
        return False
    tarball = rootfs_tarball(cache)
    container = bh.buildah("from", "scratch").strip()
    try:
        bh.buildah("add", container, str(tarball), "/")
        bh.buildah("config", "--env", f"PATH={SYSTEM_PATH}",
                   "--env", "LANG=C.UTF-8", "--cmd", "/bin/bash", "--label", f"{KEY_LABEL}={key}",
                   container)  # fmt: skip
        bh.buildah("commit", "--quiet", "--rm", container, PYTHON_IMAGE)
    except BaseException:
        bh.remove_container(container)
        raise
    return True


def pytriton_wheel(cache: Path) -> Path:
    """The nvidia-pytriton wheel of requirements-triton.txt, downloaded once and unpacked (modes kept)."""
    version = read_pins(TRITON_REQUIREMENTS)["nvidia-pytriton"]
    unpacked = cache / f"nvidia-pytriton-{version}"
    if (unpacked / ".complete").is_file():
        return unpacked
    wheels = cache / "pytriton-wheel"
    command = ["python3", "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:"]
    subprocess.run([*command, "-d", str(wheels), f"nvidia-pytriton=={version}"], check=True)
    wheel = next(wheels.glob(f"nvidia_pytriton-{version}-*.whl"))
    shutil.rmtree(unpacked, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            target = Path(archive.extract(info, unpacked))
            mode = info.external_attr >> 16
            if mode and not info.is_dir():
                target.chmod(mode & 0o777)
    (unpacked / ".complete").touch()
    return unpacked


def triton_key(python: str) -> str:
    return _key(python, read_pins(TRITON_REQUIREMENTS)["nvidia-pytriton"], STUB_PYTHON, ENTRYPOINT_SCRIPT)


def build_triton(cache: Path) -> bool:
    key = triton_key(python_key())
    if bh.image_label(TRITON_IMAGE, KEY_LABEL) == key:
        return False
    wheel = pytriton_wheel(cache)
    dist = wheel / "pytriton" / "tritonserver"
    with tempfile.TemporaryDirectory(dir=cache, prefix=".triton-") as tmp:
        home = Path(tmp) / "tritonserver"
        (home / "bin").mkdir(parents=True)
        shutil.copy2(dist / "bin" / "tritonserver", home / "bin")
        python_backend = home / "backends" / "python"
        python_backend.mkdir(parents=True)
        for source in (dist / "backends" / "python").glob("*.*"):
            shutil.copy2(source, python_backend)
        stub = dist / "python_backend_stubs" / STUB_PYTHON / "triton_python_backend_stub"
        shutil.copy2(stub, python_backend)
        shutil.copytree(wheel / "nvidia_pytriton.libs", home / "lib")
        entrypoint = Path(tmp) / "nvidia_entrypoint.sh"
        entrypoint.write_text(ENTRYPOINT_SCRIPT)
        entrypoint.chmod(0o755)
        container = bh.buildah("from", "--pull-never", PYTHON_IMAGE).strip()
        try:
            bh.copy_in(container, home, "/opt/tritonserver")
            bh.copy_in(container, entrypoint, ENTRYPOINT)
            config = ["--env", "LD_LIBRARY_PATH=/opt/tritonserver/lib"]
            config += [
                "--env",
                f"PATH=/opt/tritonserver/bin:{SYSTEM_PATH}",
                "--entrypoint",
                f'["{ENTRYPOINT}"]',
            ]
            bh.buildah("config", *config, "--cmd", "", "--label", f"{KEY_LABEL}={key}", container)
            bh.buildah("commit", "--quiet", "--rm", container, TRITON_IMAGE)
        except BaseException:
            bh.remove_container(container)
            raise
    return True


def ensure_standins(cache: Path | None = None) -> StandIns:
    cache = Path(cache or REPO_ROOT / ".images") / "cache"
    built = []
    if build_python(cache):
        built.append(PYTHON_IMAGE)
    if build_triton(cache):
        built.append(TRITON_IMAGE)
    return StandIns(PYTHON_IMAGE, TRITON_IMAGE, tuple(built))
