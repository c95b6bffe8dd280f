"""Thin wrappers over the `buildah` command line (no daemon; chroot isolation)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

ISOLATION = "chroot"


class BuildahError(RuntimeError):
    """A buildah command failed; the message ends with its output."""


def available() -> bool:
    return shutil.which("buildah") is not None


def buildah(*args: str, capture: bool = True, timeout: float | None = None) -> str:
    """Run `buildah ARGS`; its stdout (stderr goes to ours unless captured)."""
    command = ["buildah", *args]
    result = subprocess.run(command, capture_output=capture, text=True, timeout=timeout)
    if result.returncode != 0:
        output = (result.stdout or "") + (result.stderr or "")
        raise BuildahError(f"{' '.join(command)} exited with {result.returncode}:\n{output[-4000:]}")
    return result.stdout or ""


def image_exists(name: str) -> bool:
    command = ["buildah", "inspect", "--type", "image", name]
    return subprocess.run(command, capture_output=True).returncode == 0


def inspect(name: str) -> dict[str, Any]:
    return json.loads(buildah("inspect", "--type", "image", name))


def image_label(name: str, label: str) -> str | None:
    """A label of a local image, or None when the image (or the label) is missing."""
    if not image_exists(name):
        return None
    labels = inspect(name).get("OCIv1", {}).get("config", {}).get("Labels") or {}
    return labels.get(label)


def image_config(name: str) -> dict[str, Any]:
    """The image's OCI config: Entrypoint, Cmd, Env, WorkingDir, ExposedPorts, Labels."""
    return inspect(name).get("OCIv1", {}).get("config", {})


def image_size_bytes(name: str) -> int:
    """Uncompressed size: the bytes of the image's root filesystem (`du` of a mounted working container)."""
    container, root = mount_image(name)
    try:
        du = subprocess.run(["du", "-sx", "--block-size=1", str(root)], capture_output=True, text=True)
        return int(du.stdout.split()[0])
    finally:
        remove_container(container)


def mount_image(name: str) -> tuple[str, Path]:
    """A working container of the image and the host path of its root filesystem."""
    container = buildah("from", "--pull-never", name).strip().splitlines()[-1]
    return container, Path(buildah("mount", container).strip())


def remove_container(container: str) -> None:
    subprocess.run(["buildah", "rm", container], capture_output=True)


def copy_in(container: str, source: Path, destination: str) -> None:
    buildah("copy", container, str(source), destination)
