"""Where `ensure_tiny_pipeline` keeps the tiny pipeline (standard library only: callers that only need
the cached copy, such as the local cloud, find it without importing torch)."""

from __future__ import annotations

import os
from pathlib import Path

TINY_PIPELINE_FOLDER = "tiny-sd-v1"


def tiny_pipeline_dir(cache_dir: Path | str | None = None) -> Path:
    """The tiny pipeline's folder under `cache_dir` (default: $AVATAR_TINY_MODEL_DIR, else
    ~/.cache/avatar-tiny-sd); it holds a pipeline once `model_index.json` exists."""
    default = Path.home() / ".cache" / "avatar-tiny-sd"
    root = Path(cache_dir) if cache_dir else Path(os.environ.get("AVATAR_TINY_MODEL_DIR", default))
    return root / TINY_PIPELINE_FOLDER


def cached_tiny_pipeline(cache_dir: Path | str | None = None) -> Path | None:
    """The tiny pipeline's folder if it is already built, else None."""
    folder = tiny_pipeline_dir(cache_dir)
    return folder if (folder / "model_index.json").is_file() else None
