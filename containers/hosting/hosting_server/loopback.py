"""Keeping a local tritonserver on the loopback interface (developer machines and the local cloud).

Triton's HTTP, gRPC and metrics front ends take an address (`--http-address`, ...), but its SageMaker
front end has none: it always binds 0.0.0.0 (checked against the nvidia-pytriton 0.5.7 wheel, Triton
24.04). The deployed container needs exactly that (SageMaker calls it on 0.0.0.0:8080); a developer's
Triton must not, or anyone on the network could load and run any model directory on it. So a loopback
Triton gets `loopback_bind.c` preloaded, which rebinds every listening socket of it and its stubs to
127.0.0.1 (or ::1), and is then checked from outside: `non_loopback_listeners` must find nothing, or
the launcher stops it (hosting_server.triton.start_triton).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psutil

SHIM_SOURCE = Path(__file__).with_name("loopback_bind.c")
CACHE_ENV = "AVATAR_TRITON_STUB_DEPS"  # the cache folder of the other things built for a local Triton
ALL_INTERFACES = "0.0.0.0"  # what SageMaker needs in the deployed container
LOOPBACK = "127.0.0.1"  # everywhere else (tests, benchmarks, the local cloud)


class LoopbackUnavailable(RuntimeError):
    """The loopback shim cannot be built here (no C compiler)."""


def is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address).is_loopback


def check_bind_address(bind_address: str) -> str:
    """0.0.0.0 (the deployed container) or a loopback address: Triton's SageMaker front end cannot bind
    to one particular interface, so any other address would silently mean every interface."""
    if bind_address != ALL_INTERFACES and not is_loopback(bind_address):
        raise ValueError(f"Triton binds {ALL_INTERFACES} or a loopback address, not {bind_address!r}")
    return bind_address


def loopback_shim() -> Path:
    """The compiled shim (built once with the system C compiler, cached by the source's hash)."""
    source = SHIM_SOURCE.read_bytes()
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "avatar-triton-stub")
    target = root / f"loopback-bind-{hashlib.sha256(source).hexdigest()[:16]}.so"
    if target.is_file():
        return target
    compiler = next((c for c in (os.environ.get("CC"), "cc", "gcc", "clang") if c and shutil.which(c)), None)
    if compiler is None:
        raise LoopbackUnavailable(
            "a local tritonserver is kept on 127.0.0.1 by a small preloaded library, which needs a C "
            "compiler to build (apt-get install gcc); without it Triton's SageMaker front end would "
            "listen on every interface, so it is not started"
        )
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".build-") as build:
        built = Path(build) / target.name
        command = [compiler, "-shared", "-fPIC", "-O2", "-o", str(built), str(SHIM_SOURCE), "-ldl"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise LoopbackUnavailable(f"building the loopback shim failed: {result.stderr[-2000:]}")
        os.replace(built, target)
    return target


def preload_env(env: dict[str, str]) -> dict[str, str]:
    """`env` with the shim first in LD_PRELOAD."""
    preload = " ".join(filter(None, [str(loopback_shim()), env.get("LD_PRELOAD")]))
    return {**env, "LD_PRELOAD": preload}


def listeners(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket listening in process `pid` and its descendants."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    found = []
    for process in processes:
        try:
            connections = process.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        found += [(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN]
    return found


def non_loopback_listeners(pid: int) -> list[tuple[str, int]]:
    """The listening sockets of `pid` (and its descendants) that other machines could reach."""
    return [(address, port) for address, port in listeners(pid) if not is_loopback(address)]
