"""Selfie preparation: upright (EXIF orientation applied), at most 1024 px on the long side, JPEG."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps

MAX_SIDE = 1024
EXTENSIONS = (".jpg", ".jpeg", ".png")


def prepare_selfie(source: Path | str | bytes, max_side: int = MAX_SIDE, quality: int = 92) -> bytes:
    """JPEG bytes of the image, downscaled so that neither side exceeds `max_side` (never upscaled)."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def selfie_paths(directory: Path | str) -> list[Path]:
    """The JPEG/PNG files of a folder, sorted by name."""
    folder = Path(directory)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)
