"""The hosting container's `serve` entry point (SageMaker runs `docker run <image> serve`).

Starts Triton in SageMaker multi-model mode with the flags of Triton's own SageMaker `serve` script and
its environment variables (SAGEMAKER_BIND_TO_PORT, SAGEMAKER_SAFE_PORT_RANGE, SAGEMAKER_TRITON_*), plus the
base model repository baked into the image with `sd_base` loaded at start. Triton replaces this process
(exec), so SageMaker's signals reach it directly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

from avatar_contract.names import Env, Runtime
from hosting_server.triton import find_triton, triton_command, triton_env

MODEL_REPOSITORY_ENV = "AVATAR_MODEL_REPOSITORY"
DEFAULT_MODEL_REPOSITORY = "/opt/avatar/model_repository"

# SageMaker / Triton serve-script variables that map one to one onto a tritonserver flag.
_PASS_THROUGH = {
    "SAGEMAKER_SAFE_PORT_RANGE": "--sagemaker-safe-port-range",
    "SAGEMAKER_TRITON_BUFFER_MANAGER_THREAD_COUNT": "--buffer-manager-thread-count",
    "SAGEMAKER_TRITON_THREAD_COUNT": "--sagemaker-thread-count",
    "SAGEMAKER_TRITON_LOG_INFO": "--log-info",
    "SAGEMAKER_TRITON_LOG_WARNING": "--log-warning",
    "SAGEMAKER_TRITON_LOG_ERROR": "--log-error",
}


def serve_command(environ: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The tritonserver command line and environment `serve` runs, from the container's environment."""
    environ = dict(os.environ if environ is None else environ)
    port = int(environ.get("SAGEMAKER_BIND_TO_PORT") or Runtime.CONTAINER_PORT)
    repository = Path(environ.get(MODEL_REPOSITORY_ENV) or DEFAULT_MODEL_REPOSITORY)
    extra = [f"{flag}={environ[name]}" for name, flag in _PASS_THROUGH.items() if environ.get(name)]
    install = find_triton(Path(environ.get("TMPDIR") or "/tmp") / "avatar-triton")
    command = triton_command(
        install,
        repository,
        port,
        sagemaker=True,
        exit_timeout_secs=int(environ.get("AVATAR_TRITON_EXIT_TIMEOUT_SECS") or 10),
        verbose=environ.get("SAGEMAKER_TRITON_LOG_VERBOSE", "0").lower() in ("1", "true"),
        extra_args=tuple(extra),
        shm_default_bytes=int(environ.get("SAGEMAKER_TRITON_SHM_DEFAULT_BYTE_SIZE") or 2**24),
        shm_growth_bytes=int(environ.get("SAGEMAKER_TRITON_SHM_GROWTH_BYTE_SIZE") or 2**20),
    )
    return command, triton_env(install, environ.get(Env.BASE_MODEL), environ)


def main() -> NoReturn:
    command, env = serve_command()
    print("serve:", " ".join(command), flush=True)
    os.execve(command[0], command, env)


if __name__ == "__main__":
    sys.exit(main())
