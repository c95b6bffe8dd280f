"""Random-weight Stable Diffusion 2.x and SDXL pipelines, built in code with no downloads.

`build_tiny_pipeline` makes a pipeline small enough to train and render on a laptop CPU in seconds (tests,
the local cloud); `build_full_size_pipeline` makes the real SD 2.1-base architecture with random weights
(benchmarks of compute and memory). Both are written with `save_pretrained`, so every consumer loads them
through the same `from_pretrained` path as the real model. `random_sd.sdxl` does the same for SDXL 1.0
(`build_tiny_sdxl_pipeline`, `build_full_size_sdxl_pipeline`).
"""

from random_sd.builders import (
    build_full_size_pipeline,
    build_tiny_pipeline,
    ensure_built,
    ensure_tiny_pipeline,
)
from random_sd.sdxl import build_full_size_sdxl_pipeline, build_tiny_sdxl_pipeline, ensure_tiny_sdxl_pipeline

__all__ = [
    "build_full_size_pipeline",
    "build_full_size_sdxl_pipeline",
    "build_tiny_pipeline",
    "build_tiny_sdxl_pipeline",
    "ensure_built",
    "ensure_tiny_pipeline",
    "ensure_tiny_sdxl_pipeline",
]
