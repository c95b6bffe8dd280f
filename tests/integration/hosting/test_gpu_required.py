"""Hosting's base model refuses the CPU of a GPU instance (`AVATAR_EXPECT_GPU=true`): `sd_base`'s
initialize fails with a reason naming the driver and torch's CUDA, so Triton never reports ready."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from avatar_runtime.gpu import EXPECT_GPU_ENV
from hosting_server.engine import BaseModelEngine


@pytest.mark.skipif(torch.cuda.is_available(), reason="proves the CPU-only behaviour")
def test_engine_refuses_the_cpu_when_a_gpu_is_expected(
    monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path
) -> None:
    monkeypatch.setenv(EXPECT_GPU_ENV, "true")
    with pytest.raises(RuntimeError, match=rf"NVIDIA driver.*torch {re.escape(torch.__version__)}"):
        BaseModelEngine(tiny_model_dir)


def test_engine_loads_on_cpu_without_the_flag(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path) -> None:
    monkeypatch.delenv(EXPECT_GPU_ENV, raising=False)
    assert BaseModelEngine(tiny_model_dir, device="cpu").device.type == "cpu"
