"""Prior-preservation class images, generated once per (base model, class prompt, resolution, count,
sampling steps, render version) from a fixed seed (`trainer.CLASS_IMAGE_SEED`, never the user's training
seed, so every training of a deployment shares one set) and kept in two places: the instance's cache
directory, and the data bucket under `class-images/<key>/`, so an instance that scaled up from zero reads
them instead of generating them.

The S3 copy is written image by image, then `index.json` last: a set without its index is incomplete and
ignored. A failing S3 read or write never fails a training; it only costs the generation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from avatar_contract.names import Prefix
from avatar_runtime.base_model import base_model_identity
from avatar_runtime.rendering import RENDER_VERSION
from training_service.storage import S3Store

logger = logging.getLogger(__name__)

_READY = ".complete"
INDEX = "index.json"


def class_image_key(
    base_model: str, class_prompt: str, resolution: int, count: int, sample_steps: int
) -> str:
    """The cache key; the base model counts by its manifest digest when it is a staged copy. The render
    version counts (the sampler changes the images); the user's training seed does not."""
    parts = [base_model_identity(base_model), class_prompt, resolution, count, sample_steps, RENDER_VERSION]
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()


def _read_local(target: Path) -> list[Image.Image] | None:
    if not (target / _READY).is_file():
        return None
    return [Image.open(path).convert("RGB") for path in sorted(target.glob("*.png"))]


def _keep_local(target: Path, write: Callable[[Path], object]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".class-"))
    write(staging)
    (staging / _READY).touch()
    try:
        os.rename(staging, target)
    except OSError:  # another training cached the same set meanwhile
        shutil.rmtree(staging, ignore_errors=True)


def _read_s3(client: Any, bucket: str, prefix: str, count: int, target: Path) -> bool:
    """Copy the S3 set into the local cache; False when there is no complete set."""
    try:
        index = json.loads(client.get_object(Bucket=bucket, Key=prefix + INDEX)["Body"].read())
    except client.exceptions.NoSuchKey:
        return False
    files = index.get("files", [])
    if len(files) != count or any("/" in name or not name.endswith(".png") for name in files):
        logger.warning("ignoring the class-image set s3://%s/%s: its index does not match", bucket, prefix)
        return False

    def download(folder: Path) -> None:
        for name in files:
            client.download_file(bucket, prefix + name, str(folder / name))

    _keep_local(target, download)
    return True


def _write_s3(client: Any, bucket: str, prefix: str, target: Path, about: dict[str, Any]) -> None:
    names = sorted(path.name for path in target.glob("*.png"))
    for name in names:  # no SSE argument: the bucket's default (KMS) encryption applies
        client.upload_file(str(target / name), bucket, prefix + name, ExtraArgs={"ContentType": "image/png"})
    index = json.dumps({**about, "files": names}).encode()
    client.put_object(Bucket=bucket, Key=prefix + INDEX, Body=index, ContentType="application/json")


def cached_class_images(
    cache_dir: Path,
    base_model: str,
    class_prompt: str,
    resolution: int,
    count: int,
    sample_steps: int,
    generate: Callable[[], list[Image.Image]],
    *,
    store: S3Store | None = None,
    bucket: str | None = None,
) -> list[Image.Image]:
    """Class images from the local cache, else from `s3://<bucket>/class-images/<key>/`, else made by
    `generate()` and stored in both for the next training (and the next instance)."""
    key = class_image_key(base_model, class_prompt, resolution, count, sample_steps)
    target = cache_dir / "class-images" / key
    if (images := _read_local(target)) is not None:
        return images
    prefix = f"{Prefix.CLASS_IMAGES}{key}/"
    if store is not None and bucket:
        try:
            if _read_s3(store.client, bucket, prefix, count, target):
                logger.info("class images read from s3://%s/%s (%d, not generated)", bucket, prefix, count)
                if (images := _read_local(target)) is not None:
                    return images
        except Exception:
            logger.exception("could not read class images from s3://%s/%s; generating them", bucket, prefix)
    images = generate()

    def save(folder: Path) -> None:
        for n, image in enumerate(images):
            image.save(folder / f"{n:04d}.png")

    _keep_local(target, save)
    if store is not None and bucket:
        about = {
            "base_model": base_model_identity(base_model),
            "class_prompt": class_prompt,
            "resolution": resolution,
            "count": count,
            "sample_steps": sample_steps,
            "render_version": RENDER_VERSION,
        }
        try:
            _write_s3(store.client, bucket, prefix, target, about)
            logger.info("class images generated and cached at s3://%s/%s", bucket, prefix)
        except Exception:
            logger.exception("could not cache class images at s3://%s/%s", bucket, prefix)
    return images
