"""Whether this process can use the NVIDIA GPU its instance has, and if not, why (both containers).

SageMaker runs a container on an AMI whose NVIDIA driver supports some CUDA version; torch wheels need
a CUDA version. When the driver is too old (or torch is a CPU build), `torch.cuda.is_available()` is
simply False and work would silently run on the CPU. The containers call `gpu_unusable_reason()` when
their instance type has a GPU (`AVATAR_EXPECT_GPU=true`, set by the CDK app) and refuse to serve with
that reason instead. Standard library at import; torch is imported only when asked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

EXPECT_GPU_ENV = "AVATAR_EXPECT_GPU"
PROC_DRIVER_VERSION = Path("/proc/driver/nvidia/version")
_DRIVER_RE = re.compile(r"Kernel Module\s+(?:for\s+\S+\s+)?(\d+(?:\.\d+)+)")


def expect_gpu(environ: Mapping[str, str] | None = None) -> bool:
    """`AVATAR_EXPECT_GPU` is true: the instance type has a GPU, so running on the CPU is a failure."""
    value = (os.environ if environ is None else environ).get(EXPECT_GPU_ENV, "")
    return value.strip().lower() in {"1", "true", "yes"}


def nvidia_driver_version(proc_file: Path = PROC_DRIVER_VERSION, nvidia_smi: str | None = None) -> str | None:
    """The loaded NVIDIA kernel driver's version (e.g. `580.65.06`), or None when there is none."""
    try:
        match = _DRIVER_RE.search(proc_file.read_text())
        if match:
            return match.group(1)
    except OSError:
        pass
    smi = nvidia_smi or shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run(
                [smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20, check=False,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return None
        version = out.stdout.strip().splitlines()[0].strip() if out.stdout.strip() else ""
        return version or None
    return None


def gpu_unusable_reason(
    torch: Any = None, proc_file: Path = PROC_DRIVER_VERSION, nvidia_smi: str | None = None
) -> str | None:
    """None when torch can use CUDA; otherwise why not, naming the NVIDIA driver and torch's CUDA."""
    if torch is None:
        import torch
    if torch.cuda.is_available():
        return None
    detail = ""
    try:
        torch.cuda.init()  # raises with CUDA's own explanation (driver too old, no device, CPU build)
    except Exception as exc:
        detail = f" ({type(exc).__name__}: {exc})"
    driver = nvidia_driver_version(proc_file, nvidia_smi)
    driver_text = (
        f"NVIDIA driver {driver}"
        if driver
        else "no NVIDIA driver (no /proc/driver/nvidia/version, no nvidia-smi)"
    )
    cuda = getattr(torch.version, "cuda", None)
    cuda_text = (
        f"torch {torch.__version__} built for CUDA {cuda}"
        if cuda
        else f"torch {torch.__version__} without CUDA"
    )
    return (
        f"the instance type has a GPU but torch cannot use it: {driver_text}, {cuda_text}{detail}. "
        "Choose an InferenceAmiVersion whose driver supports that CUDA (docs/gpu-runtime.md)."
    )
