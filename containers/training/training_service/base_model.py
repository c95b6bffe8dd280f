"""The base model on this instance: downloaded once into the cache directory and verified against the
staged manifest (`avatar_runtime.base_model`, shared with the hosting container)."""

from __future__ import annotations

import logging
from pathlib import Path

from avatar_runtime.base_model import resolve_base_model as _resolve
from training_service.storage import S3Store

logger = logging.getLogger(__name__)


def resolve_base_model(base_model: str, cache_dir: Path, store: S3Store) -> Path:
    """A local directory holding the diffusers pipeline named by `base_model` (a directory, the staged
    `s3://.../base-models/<digest>/`, or a Hugging Face id unless HF_HUB_OFFLINE is set); raises
    `avatar_runtime.base_model.BaseModelError` with the reason when it cannot be used."""
    client = store.client if base_model.startswith("s3://") else None
    path = _resolve(base_model, cache_dir, s3_client=client)
    logger.info("base model %s at %s", base_model, path)
    return path
