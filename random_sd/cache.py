"""Where the tiny pipelines are kept (standard library only: callers that only need the cached copy, such
as the local cloud, find it without importing torch)."""

from __future__ import annotations

import os
from pathlib import Path

TINY_PIPELINE_FOLDER = "tiny-sd-v1"  # the tiny SD 2.x (random_sd.builders)
TINY_SDXL_PIPELINE_FOLDER = "tiny-sdxl-v1"  # the tiny SDXL (random_sd.sdxl)


def cache_root(cache_dir: Path | str | None = None) -> Path:
    """`cache_dir`, else $AVATAR_TINY_MODEL_DIR, else ~/.cache/avatar-tiny-sd."""
    default = Path.home() / ".cache" / "avatar-tiny-sd"
    return Path(cache_dir) if cache_dir else Path(os.environ.get("AVATAR_TINY_MODEL_DIR", default))


def tiny_pipeline_dir(cache_dir: Path | str | None = None, folder: str = TINY_PIPELINE_FOLDER) -> Path:
    """A tiny pipeline's folder under the cache root; it holds a pipeline once `model_index.json` exists."""
    return cache_root(cache_dir) / folder


def cached_tiny_pipeline(
    cache_dir: Path | str | None = None, folder: str = TINY_PIPELINE_FOLDER
) -> Path | None:
    """The tiny pipeline's folder if it is already built, else None."""
    found = tiny_pipeline_dir(cache_dir, folder)
    return found if (found / "model_index.json").is_file() else None
