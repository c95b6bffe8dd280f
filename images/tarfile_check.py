"""The smoke run's tarfile check: the Dockerfiles' `python -m avatar_runtime.tarfile_fixes` run again
inside each built image (under `buildah run`), to show what the build accepted and why."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Protocol

from avatar_runtime.tarfile_fixes import waived
from images import buildah as bh


class Reporter(Protocol):
    def run(self, name: str, step: Callable[[], str | None]) -> bool: ...


def tarfile_check(report: Reporter, image: str, python: str, waiver: str) -> None:
    """The Dockerfiles' tarfile check run again inside the built image, without the waiver: accepted, or
    refused only for lacking the filter fixes on exactly the waived stand-in revision (CVE-2024-6232
    fixed either way)."""

    def check() -> str:
        container = bh.buildah("from", "--pull-never", image).strip().splitlines()[-1]
        try:
            run = ["buildah", "run", "--isolation", bh.ISOLATION, container, "--"]
            command = [*run, python, "-m", "avatar_runtime.tarfile_fixes", "--json"]
            result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        finally:
            bh.remove_container(container)
        found = json.loads(result.stdout.strip().splitlines()[-1])
        fixed = {f["family"]: f["fixed"] for f in found["findings"]}
        assert (result.returncode == 0) == found["accepted"], result
        if found["accepted"]:
            return found["why"]
        package = found["interpreter"]["package"]
        assert waived(waiver, package), f"refused and not the waived stand-in ({waiver}): {found}"
        assert fixed == {"CVE-2024-6232": True, "CVE-2025-4517 family": False}, found
        return f"{package}: CVE-2024-6232 fixed; refused for the CVE-2025-4517 family except by the waiver"

    report.run(f"{image}: tarfile fixes checked in the image", check)
