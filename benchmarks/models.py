"""The random-weight pipelines the benchmarks run on, built once and cached under `.models/` (ignored by
git): the tiny SD 2.x and SDXL pipelines and the full-size SD 2.1-base and SDXL 1.0 architectures with
fp16 weights on disk."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.common import REPO_ROOT

CACHE = Path(os.environ.get("AVATAR_BENCH_CACHE", REPO_ROOT / ".models" / "bench"))


def tiny_pipeline() -> Path:
    from random_sd import ensure_tiny_pipeline

    return ensure_tiny_pipeline(CACHE)


def full_size_pipeline() -> Path:
    """SD 2.1-base architecture, random weights, fp16 safetensors (about 2.6 GB; built in about a
    minute on 2 cores, peak memory about 6 GB)."""
    import torch

    from random_sd import build_full_size_pipeline, ensure_built

    return ensure_built(
        CACHE / "sd21-base-random-fp16", lambda out: build_full_size_pipeline(out, dtype=torch.float16)
    )


def tiny_sdxl_pipeline() -> Path:
    from random_sd import ensure_tiny_sdxl_pipeline

    return ensure_tiny_sdxl_pipeline(CACHE)


def full_size_sdxl_pipeline() -> Path:
    """SDXL 1.0 base architecture, random weights, fp16 safetensors (about 6.9 GB; building it holds the
    fp32 weights, about 14 GB of memory)."""
    import torch

    from random_sd import build_full_size_sdxl_pipeline, ensure_built

    return ensure_built(
        CACHE / "sdxl-base-random-fp16", lambda out: build_full_size_sdxl_pipeline(out, dtype=torch.float16)
    )


def family_pipeline(family: str, toy: bool) -> Path:
    """The random-weight pipeline of a base family (`avatar_contract.families.FamilyName`): tiny or full."""
    sdxl = family == "sdxl-base-1.0"
    if toy:
        return tiny_sdxl_pipeline() if sdxl else tiny_pipeline()
    return full_size_sdxl_pipeline() if sdxl else full_size_pipeline()
