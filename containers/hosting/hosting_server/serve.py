"""The hosting container's `serve` entry point (SageMaker runs `docker run <image> serve`).

Starts Triton in SageMaker multi-model mode with the flags of Triton's own SageMaker `serve` script and
its environment variables (read by `hosting_server.settings.HostingSettings`), plus the
base model repository baked into the image with `sd_base` loaded at start. Triton replaces this process
(exec), so SageMaker's signals reach it directly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

from hosting_server.settings import HostingSettings
from hosting_server.triton import find_triton, triton_command, triton_env


def serve_command(environ: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The tritonserver command line and environment `serve` runs, from the container's environment."""
    environ = dict(os.environ if environ is None else environ)
    settings = HostingSettings.from_env(environ)
    install = find_triton(Path(environ.get("TMPDIR") or "/tmp") / "avatar-triton")
    command = triton_command(
        install, settings.model_repository, settings.port, sagemaker=True, verbose=settings.verbose,
        exit_timeout_secs=settings.exit_timeout_secs, extra_args=settings.triton_flags,
        shm_default_bytes=settings.shm_default_bytes, shm_growth_bytes=settings.shm_growth_bytes,
        bind_address=settings.bind_address,
    )  # fmt: skip
    return command, triton_env(install, settings.base_model, environ, settings.bind_address)


def main() -> NoReturn:
    command, env = serve_command()
    print("serve:", " ".join(command), flush=True)
    os.execve(command[0], command, env)


if __name__ == "__main__":
    sys.exit(main())
