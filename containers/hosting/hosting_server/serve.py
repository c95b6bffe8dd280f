"""The hosting container's `serve` entry point (SageMaker runs `docker run <image> serve`).

Starts Triton in SageMaker multi-model mode with the flags of Triton's own SageMaker `serve` script and
its environment variables (read by `hosting_server.settings.HostingSettings`), plus the
base model repository baked into the image with `sd_base` loaded at start. Triton's SageMaker front end
listens on an internal port; SageMaker's port (8080) is the model gate (hosting_server.gate), which refuses
any per-user model that is not code-free before Triton sees it and passes every other call through. This
process forwards SIGTERM/SIGINT to Triton and exits with Triton's status.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import NoReturn

from hosting_server.gate import ModelGate
from hosting_server.settings import HostingSettings
from hosting_server.triton import find_triton, triton_command, triton_env


def serve_command(environ: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The tritonserver command line and environment `serve` runs, from the container's environment."""
    environ = dict(os.environ if environ is None else environ)
    settings = HostingSettings.from_env(environ)
    if settings.triton_port == settings.port:
        raise ValueError("AVATAR_TRITON_INTERNAL_PORT must differ from SAGEMAKER_BIND_TO_PORT (the gate's)")
    install = find_triton(Path(environ.get("TMPDIR") or "/tmp") / "avatar-triton")
    command = triton_command(
        install, settings.model_repository, settings.triton_port, sagemaker=True, verbose=settings.verbose,
        exit_timeout_secs=settings.exit_timeout_secs, extra_args=settings.triton_flags,
        shm_default_bytes=settings.shm_default_bytes, shm_growth_bytes=settings.shm_growth_bytes,
        bind_address=settings.bind_address,
    )  # fmt: skip
    return command, triton_env(install, settings.base_model, environ, settings.bind_address)


def main() -> NoReturn:
    settings = HostingSettings.from_env()
    command, env = serve_command()
    print("serve:", " ".join(command), flush=True)
    triton = subprocess.Popen(command, env=env)

    def forward(signum: int, _frame: FrameType | None) -> None:
        triton.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    gate = ModelGate((settings.bind_address, settings.port), settings.triton_port).start()
    print(
        f"serve: model gate on {settings.bind_address}:{settings.port} -> Triton :{settings.triton_port}",
        flush=True,
    )
    code = triton.wait()
    gate.stop()
    sys.exit(code)


if __name__ == "__main__":
    sys.exit(main())
