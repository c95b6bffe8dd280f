"""Test inputs for the training service: face photos, archives (good and hostile), a tiny config."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageOps
from skimage import data

from avatar_contract.artifact import USER_TEMPLATE
from avatar_contract.keys import model_key, new_model_id, new_training_id, owner_of, preview_prefix


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def face_photos(count: int, seed: int = 0) -> dict[str, bytes]:
    """`count` JPEG selfies of one person: scikit-image's astronaut, varied by crop, flip and colour."""
    base = Image.fromarray(data.astronaut())
    rng = np.random.default_rng(seed)
    photos = {}
    for n in range(count):
        left, top = int(rng.integers(0, 60)), int(rng.integers(0, 40))
        side = int(rng.integers(380, 512 - max(left, top)))
        image = base.crop((left, top, left + side, top + side))
        if n % 2:
            image = ImageOps.mirror(image)
        image = ImageEnhance.Color(image).enhance(float(rng.uniform(0.4, 1.5)))
        image = ImageEnhance.Brightness(image).enhance(float(rng.uniform(0.8, 1.2)))
        photos[f"selfie-{n:02d}.jpg"] = jpeg(image)
    return photos


def faceless_photos(count: int) -> dict[str, bytes]:
    """Photos with no face in them (scikit-image's coffee, rocket and cat... cropped)."""
    sources = [data.coffee(), data.rocket(), data.chelsea()]
    photos = {}
    for n in range(count):
        image = Image.fromarray(sources[n % len(sources)])
        photos[f"object-{n:02d}.jpg"] = jpeg(image.crop((n * 3, 0, image.width - n * 3, image.height)))
    return photos


def tar_bytes(files: dict[str, bytes], compress: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if compress else "w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def tar_with_member(member: tarfile.TarInfo, files: dict[str, bytes], content: bytes | None = None) -> bytes:
    """An archive of `files` plus one hand-made member (a link, a device, a traversal path...)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, blob in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        tar.addfile(member, io.BytesIO(content) if content is not None else None)
    return buffer.getvalue()


def many_members_tar(count: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for n in range(count):
            tar.addfile(tarfile.TarInfo(f"f{n}.txt"), io.BytesIO(b""))
    return buffer.getvalue()


def bomb_tar(unpacked_bytes: int) -> bytes:
    """A small .tar.gz whose one member unpacks to `unpacked_bytes` of zeros."""

    class Zeros(io.RawIOBase):
        def __init__(self, size: int) -> None:
            self.left = size

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            n = min(len(buffer), self.left)
            buffer[:n] = bytes(n)
            self.left -= n
            return n

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("bomb.png")
        info.size = unpacked_bytes
        tar.addfile(info, io.BufferedReader(Zeros(unpacked_bytes)))
    return buffer.getvalue()


def training_config(hosting_bucket: str, data_bucket: str, **overrides: Any) -> dict[str, Any]:
    """A `config.json` for a fast training of the tiny model (64 px, few steps, small ranks)."""
    owner = owner_of("arn:aws:iam::123456789012:user/alice")
    training_id, model_id = new_training_id(), new_model_id()
    config = {
        "training_id": training_id,
        "model_id": model_id,
        "owner": owner,
        "model_name": "alice",
        "model_s3_uri": f"s3://{hosting_bucket}/{model_key(owner, model_id)}",
        "preview_s3_prefix": f"s3://{data_bucket}/{preview_prefix(owner, training_id)}",
        "max_train_steps": 6,
        "resolution": 64,
        "lora_rank": 4,
        "text_encoder_lora_rank": 4,
        "num_class_images": 2,
        "validation_prompts": ["a photo of <<TOK>>"],
    }
    config.update(overrides)
    return config


def with_config(files: dict[str, bytes], config: dict[str, Any]) -> dict[str, bytes]:
    return {**files, "config.json": json.dumps(config).encode()}


def user_template(tmp: Path) -> Path:
    """The hosting engineer's per-user Triton template when it is in the tree, else a minimal stand-in."""
    if (USER_TEMPLATE / "config.pbtxt").is_file():
        return USER_TEMPLATE
    template = tmp / "user_lora"
    (template / "1").mkdir(parents=True, exist_ok=True)
    (template / "config.pbtxt").write_text('backend: "python"\n')
    (template / "1" / "model.py").write_text("# stand-in for model_templates/user_lora/1/model.py\n")
    return template
