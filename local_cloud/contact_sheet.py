"""The demo's contact sheet: rows of labelled thumbnails (inputs, training previews, generated avatars)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (250, 250, 250)
INK = (30, 30, 30)


def contact_sheet(
    rows: Sequence[tuple[str, Sequence[Image.Image]]],
    out_path: Path,
    thumb: int = 96,
    per_row: int = 10,
    title: str = "",
) -> Path:
    """Write a PNG with one labelled band per (label, images) row, `per_row` thumbnails per line."""
    font = ImageFont.load_default()
    pad, label_h = 6, 16
    title_h = 22 if title else 0
    bands = []
    for label, images in rows:
        lines = max(1, -(-len(images) // per_row))
        bands.append((label, images, label_h + lines * (thumb + pad)))
    width = pad + per_row * (thumb + pad)
    height = title_h + sum(h for _, _, h in bands) + pad
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((pad, 4), title, fill=INK, font=font)
    y = title_h
    for label, images, band_height in bands:
        draw.text((pad, y + 2), f"{label} ({len(images)})", fill=INK, font=font)
        for n, image in enumerate(images):
            x = pad + (n % per_row) * (thumb + pad)
            top = y + label_h + (n // per_row) * (thumb + pad)
            tile = image.convert("RGB").copy()
            tile.thumbnail(
                (thumb, thumb), Image.Resampling.NEAREST if image.width < thumb else Image.Resampling.LANCZOS
            )
            if tile.width < thumb:  # tiny model renders 64 px: scale up without smoothing
                tile = image.convert("RGB").resize((thumb, thumb), Image.Resampling.NEAREST)
            sheet.paste(tile, (x, top))
        y += band_height
    out_path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_path, format="PNG", optimize=True)
    return out_path
