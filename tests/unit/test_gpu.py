"""avatar_runtime.gpu: the driver version and the reason a GPU cannot be used (no GPU needed)."""

from __future__ import annotations

import stat
from pathlib import Path
from types import SimpleNamespace

from avatar_runtime.gpu import expect_gpu, gpu_unusable_reason, nvidia_driver_version

PROC_TEXT = (
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.256.02  Thu May  2 14:37:44 UTC 2024\n"
    "GCC version:  gcc version 7.3.1 20180712 (Red Hat 7.3.1-17) (GCC)\n"
)


def _fake_torch(available: bool, cuda: str | None, error: str = "CUDA driver version is insufficient"):
    def init() -> None:
        raise RuntimeError(error)

    return SimpleNamespace(
        __version__="2.13.0", version=SimpleNamespace(cuda=cuda),
        cuda=SimpleNamespace(is_available=lambda: available, init=init),
    )  # fmt: skip


def test_driver_version_from_proc(tmp_path: Path) -> None:
    proc = tmp_path / "version"
    proc.write_text(PROC_TEXT)
    assert nvidia_driver_version(proc) == "470.256.02"
    proc.write_text("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build\n")
    assert nvidia_driver_version(proc) == "580.65.06"


def test_driver_version_from_nvidia_smi(tmp_path: Path) -> None:
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 535.183.01\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    assert nvidia_driver_version(tmp_path / "absent", str(smi)) == "535.183.01"
    assert nvidia_driver_version(tmp_path / "absent", str(tmp_path / "no-smi")) is None


def test_usable_gpu_has_no_reason() -> None:
    assert gpu_unusable_reason(_fake_torch(True, "13.0")) is None


def test_reason_names_the_driver_and_torchs_cuda(tmp_path: Path) -> None:
    proc = tmp_path / "version"
    proc.write_text(PROC_TEXT)
    reason = gpu_unusable_reason(_fake_torch(False, "13.0"), proc, str(tmp_path / "no-smi"))
    assert reason is not None
    assert "NVIDIA driver 470.256.02" in reason
    assert "torch 2.13.0 built for CUDA 13.0" in reason
    assert "CUDA driver version is insufficient" in reason


def test_reason_without_driver_or_cuda_build(tmp_path: Path) -> None:
    reason = gpu_unusable_reason(_fake_torch(False, None), tmp_path / "absent", str(tmp_path / "no-smi"))
    assert reason is not None and "no NVIDIA driver" in reason and "torch 2.13.0 without CUDA" in reason


def test_expect_gpu_reads_the_flag() -> None:
    assert expect_gpu({"AVATAR_EXPECT_GPU": "true"}) and expect_gpu({"AVATAR_EXPECT_GPU": "1"})
    assert not expect_gpu({"AVATAR_EXPECT_GPU": "false"}) and not expect_gpu({})
