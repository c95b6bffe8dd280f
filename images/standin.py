"""Stand-ins for the SageMaker base images, built from Debian packages with debootstrap (no registry).

- `python` stand-in (for the PyTorch DLC): Debian bookworm with Python 3.11 and pip. Like the DLC's
  Python (and unlike Debian's), pip may install into the system interpreter.
- `triton` stand-in (for SageMaker's Triton image): the `python` stand-in plus `tritonserver`, its
  Python backend and the stub for Python 3.11 where the Triton image keeps them (/opt/tritonserver), from
  the nvidia-pytriton wheel pinned in requirements-triton.txt, and an entry point that execs its arguments
  (as the Triton image's /opt/nvidia/nvidia_entrypoint.sh does).

Two distributions (`Distro`): BOOKWORM (Debian 12, Python 3.11) for `make images`, and NOBLE (Ubuntu 24.04,
Python 3.12, as the Triton image) for `make images-cuda`, which installs the real locks' cp312 wheels.

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

PYTHON_IMAGE = "localhost/avatar-standin/python:bookworm"
TRITON_IMAGE = "localhost/avatar-standin/tritonserver:bookworm"
TRITON_REQUIREMENTS = Path("requirements-triton.txt")  # the nvidia-pytriton pin (installed --no-deps)
KEY_LABEL = "avatar.standin.key"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ENTRYPOINT = "/opt/nvidia/nvidia_entrypoint.sh"
ENTRYPOINT_SCRIPT = """#!/bin/sh
# Stand-in for the Triton image's entry point: run the command it is given.
exec "$@"
"""


@dataclass(frozen=True)
class Distro:
    """What a pair of stand-ins is bootstrapped from, and the tags they get."""

    suite: str
    mirror: str
    # What the DLC's and the Triton image's Python provide that the code needs: the interpreter, pip, CA
    # certificates (boto3 over TLS) and libpython (linked by the Triton Python backend stub).
    packages: tuple[str, ...]
    stub_python: str  # the Triton Python backend stub matching the distribution's Python
    python_image: str
    triton_image: str
    components: tuple[str, ...] = ("main",)
    script: str | None = None  # a debootstrap script, for a suite this debootstrap does not know by name
    check_gpg: bool = True
    # apt sources for `apt-get upgrade` inside the root after debootstrap (none: the suite as released)
    upgrade_sources: tuple[str, ...] = ()


# `make images`: Debian 12, Python 3.11.2.
BOOKWORM = Distro(
    suite="bookworm",
    mirror="http://deb.debian.org/debian",
    packages=("python3", "python3-pip", "python-is-python3", "ca-certificates", "libpython3.11"),
    stub_python="3.11",
    python_image=PYTHON_IMAGE,
    triton_image=TRITON_IMAGE,
)
# `make images-cuda`: Ubuntu 24.04, the Triton 26.05 image's OS and Python (3.12.3 with Ubuntu's patches),
# the deployed CPython 3.12 whose wheels the real locks install. bookworm's debootstrap has no "noble"
# script (Ubuntu suites all use "gutsy") and no Ubuntu keyring: the bootstrap trusts the mirror's TLS
# certificate, then apt inside the root (its own ubuntu-keyring) checks the signed updates it installs.
NOBLE = Distro(
    suite="noble",
    mirror="https://archive.ubuntu.com/ubuntu",
    packages=("python3", "python3-pip", "python-is-python3", "ca-certificates", "libpython3.12t64"),
    stub_python="3.12",
    python_image="localhost/avatar-standin/python:noble",
    triton_image="localhost/avatar-standin/tritonserver:noble",
    components=("main", "universe"),  # python3-pip is in universe
    script="/usr/share/debootstrap/scripts/gutsy",
    check_gpg=False,
    upgrade_sources=tuple(
        f"deb {mirror} {suite} main universe"
        for mirror, suite in (
            ("http://archive.ubuntu.com/ubuntu", "noble"),
            ("http://archive.ubuntu.com/ubuntu", "noble-updates"),
            ("http://security.ubuntu.com/ubuntu", "noble-security"),
        )
    ),
)


def debootstrap_command(distro: Distro, root: Path) -> list[str]:
    command = ["debootstrap", "--variant=minbase", f"--include={','.join(distro.packages)}"]
    command += [f"--components={','.join(distro.components)}"]
    command += [] if distro.check_gpg else ["--no-check-gpg"]
    command += [distro.suite, str(root), distro.mirror]
    return command + ([distro.script] if distro.script else [])


@dataclass(frozen=True)
class StandIns:
    python: str
    triton: str
    built: tuple[str, ...]  # which of them this call (re)built


def _key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def python_key(distro: Distro = BOOKWORM) -> str:
    return _key(repr(distro), Path(__file__).read_text())


def upgrade(root: Path, sources: tuple[str, ...]) -> None:
    """`apt-get upgrade` inside the root from `sources` (the distribution's updates and security fixes)."""
    (root / "etc/apt/sources.list").write_text("".join(f"{line}\n" for line in sources))
    env = {"PATH": SYSTEM_PATH, "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
    for step in (["update", "-qq"], ["-y", "-qq", "upgrade"], ["clean"]):
        command = ["chroot", str(root), "apt-get", *step]
        result = subprocess.run(command, env=env, capture_output=True, text=True)  # noisy: no /dev/pts
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{(result.stdout + result.stderr)[-4000:]}")


def rootfs_tarball(cache: Path, distro: Distro = BOOKWORM) -> Path:
    """The debootstrap root (minbase + the distro's packages), built once and kept as a tarball."""
    tarball = cache / f"rootfs-{distro.suite}-{python_key(distro)}.tar"
    if tarball.is_file():
        return tarball
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".rootfs-") as tmp:
        root = Path(tmp) / "root"
        subprocess.run(debootstrap_command(distro, root), check=True, stdout=subprocess.DEVNULL)
        if distro.upgrade_sources:
            upgrade(root, distro.upgrade_sources)
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (root / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        # The DLC's Python is not "externally managed": pip installs into it (PEP 668 marker removed).
        for marker in root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], check=True)
        for stale in cache.glob(f"rootfs-{distro.suite}-*.tar"):  # made by an older version of this file
            stale.unlink()
        partial.rename(tarball)
    return tarball


def build_python(cache: Path, distro: Distro = BOOKWORM) -> bool:
    key = python_key(distro)
    if bh.image_label(distro.python_image, KEY_LABEL) == key:
        return False
    tarball = rootfs_tarball(cache, distro)
    container = bh.buildah("from", "scratch").strip()
    try:
        bh.buildah("add", container, str(tarball), "/")
        bh.buildah("config", "--env", f"PATH={SYSTEM_PATH}",
                   "--env", "LANG=C.UTF-8", "--cmd", "/bin/bash", "--label", f"{KEY_LABEL}={key}",
                   container)  # fmt: skip
        bh.buildah("commit", "--quiet", "--rm", container, distro.python_image)
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


def triton_key(python: str, stub_python: str = BOOKWORM.stub_python) -> str:
    return _key(python, read_pins(TRITON_REQUIREMENTS)["nvidia-pytriton"], stub_python, ENTRYPOINT_SCRIPT)


def build_triton(cache: Path, distro: Distro = BOOKWORM) -> bool:
    key = triton_key(python_key(distro), distro.stub_python)
    if bh.image_label(distro.triton_image, KEY_LABEL) == key:
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
        stub = dist / "python_backend_stubs" / distro.stub_python / "triton_python_backend_stub"
        shutil.copy2(stub, python_backend)
        shutil.copytree(wheel / "nvidia_pytriton.libs", home / "lib")
        entrypoint = Path(tmp) / "nvidia_entrypoint.sh"
        entrypoint.write_text(ENTRYPOINT_SCRIPT)
        entrypoint.chmod(0o755)
        container = bh.buildah("from", "--pull-never", distro.python_image).strip()
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
            bh.buildah("commit", "--quiet", "--rm", container, distro.triton_image)
        except BaseException:
            bh.remove_container(container)
            raise
    return True


def ensure_standins(cache: Path | None = None, distro: Distro = BOOKWORM) -> StandIns:
    cache = Path(cache or REPO_ROOT / ".images") / "cache"
    built = []
    if build_python(cache, distro):
        built.append(distro.python_image)
    if build_triton(cache, distro):
        built.append(distro.triton_image)
    return StandIns(distro.python_image, distro.triton_image, tuple(built))
