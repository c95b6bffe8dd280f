"""Random-weight Stable Diffusion 2.x and SDXL pipelines, built in code with no downloads.

`build_tiny_pipeline` makes a pipeline small enough to train and render on a laptop CPU in seconds (tests,
the local cloud); `build_full_size_pipeline` makes the real SD 2.1-base architecture with random weights
(benchmarks of compute and memory). Both are written with `save_pretrained`, so every consumer loads them
through the same `from_pretrained` path as the real model. `random_sd.sdxl` does the same for SDXL 1.0
(`build_tiny_sdxl_pipeline`, `build_full_size_sdxl_pipeline`). Their CLIP tokenizer is defined in code too
(`random_sd.tokenizer.build_tokenizer`, without torch: tests that tokenize as CLIP does build it).
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from random_sd.builders import (
        build_full_size_pipeline,
        build_tiny_pipeline,
        ensure_built,
        ensure_tiny_pipeline,
    )
    from random_sd.sdxl import (
        build_full_size_sdxl_pipeline,
        build_tiny_sdxl_pipeline,
        ensure_tiny_sdxl_pipeline,
    )

_BUILDERS = ("build_full_size_pipeline", "build_tiny_pipeline", "ensure_built", "ensure_tiny_pipeline")
_SDXL = ("build_full_size_sdxl_pipeline", "build_tiny_sdxl_pipeline", "ensure_tiny_sdxl_pipeline")
__all__ = [
    "build_full_size_pipeline",
    "build_full_size_sdxl_pipeline",
    "build_tiny_pipeline",
    "build_tiny_sdxl_pipeline",
    "ensure_built",
    "ensure_tiny_pipeline",
    "ensure_tiny_sdxl_pipeline",
]


def __getattr__(name: str) -> object:
    """The builders, imported (with torch and diffusers) on first use: `random_sd.cache` stays light."""
    if name in _BUILDERS:
        from random_sd import builders

        return getattr(builders, name)
    if name in _SDXL:
        from random_sd import sdxl

        return getattr(sdxl, name)
    raise AttributeError(f"module 'random_sd' has no attribute {name!r}")
