"""Decoding one selfie into an 8-bit RGB image, or a reason why it cannot be used. One decoder for the
trainings function (`avatar_api.domain.images`, screening) and the training container
(`training_service.images`), so both see the same pixels.

- Only the formats asked for are decoded (`formats`, default `ACCEPTED_FORMATS`:
  `Image.open(..., formats=...)`), so a `.jpg` that is really a TIFF, PSD or EPS never reaches another of
  Pillow's decoders; the refusal names what the file looks like (`sniff`).
- The pixel count is checked from the header, before the pixels are decoded (decompression bombs).
- EXIF orientation is applied; EXIF that Pillow cannot parse or write back (a tag of the wrong type
  makes `exif_transpose` raise `struct.error` or `TypeError`) rejects that image, not the training.
- Every mode becomes RGB with its meaning kept: 16-bit grey is scaled to 8 bits (a plain conversion
  clips it to white), palette, grey+alpha and RGBA images are composited on white (dropping alpha makes
  transparent regions black), CMYK goes through Pillow's conversion (Adobe's inverted CMYK is undone by
  its JPEG decoder).

`decode_reduced` decodes at a working size instead (the API's screening): a JPEG through `draft()` (the
decoder scales by 1/2, 1/4 or 1/8 while decoding, so the full-size bitmap never exists), any other format
only if its full size is within `max_decoded_pixels` (checked from the header) and reduced right after.

`decode` raises `UnusableImage` (a ValueError) whose `reason` is written for the user; `TooManyPixels`
and `NotAcceptedFormat` are the kinds a caller may answer differently (the API: 413 and 400).
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow format ids for the archive's image suffixes (.jpg/.jpeg/.png/.webp). The multi-picture JPEGs
# phone cameras write come through the JPEG opener (Pillow hands them its MPO class).
ACCEPTED_FORMATS: Final = ("JPEG", "PNG", "WEBP")
_NAMES: Final = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP"}
_WHITE: Final = (255, 255, 255, 255)
_SIXTEEN_BIT_MODES: Final = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ALPHA_MODES: Final = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
# Leading bytes of formats a user may send instead (for the refusal's wording only; nothing is decoded).
_SIGNATURES: Final = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
    (b"GIF8", "GIF"),
    (b"8BPS", "PSD"),
    (b"%PDF", "PDF"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
)


class UnusableImage(ValueError):
    """This image cannot be used; `reason` says why (the training goes on without it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooManyPixels(UnusableImage):
    """More pixels than allowed (found from the header, before decoding)."""


class NotAcceptedFormat(UnusableImage):
    """Not one of the formats asked for (whatever Pillow could decode); `found`: what it looks like."""

    def __init__(self, reason: str, found: str | None) -> None:
        super().__init__(reason)
        self.found = found


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # 8-bit RGB, EXIF orientation applied
    format: str  # the Pillow format id it was decoded as: one of `formats`


def sniff(data: bytes) -> str | None:
    """What the file looks like from its first bytes (JPEG, PNG, WebP, TIFF, BMP, GIF, HEIC, ...)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        return "HEIC" if brand in {b"heic", b"heix", b"mif1", b"msf1", b"hevc"} else "AVIF/HEIF"
    return next((kind for signature, kind in _SIGNATURES if data.startswith(signature)), None)


def _listing(formats: Sequence[str]) -> str:
    names = [_NAMES.get(kind, kind) for kind in formats]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _open(data: bytes, max_pixels: int, formats: Sequence[str]) -> Image.Image:
    return _open_sized(data, max_pixels, formats)[0]


def _open_sized(
    data: bytes,
    max_pixels: int,
    formats: Sequence[str],
    draft_side: int | None = None,
    max_decoded_pixels: int | None = None,
) -> tuple[Image.Image, tuple[int, int]]:
    """The loaded image (DCT-scaled for `draft_side` when it is a JPEG) and its size in the header."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image: Image.Image = Image.open(io.BytesIO(data), formats=list(formats))
        except UnidentifiedImageError:
            kind = sniff(data)
            looks = f": it is a {kind} file" if kind else ""
            reason = f"not a readable image (not a {_listing(formats)} file{looks})"
            raise NotAcceptedFormat(reason, kind) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise TooManyPixels(f"too many pixels (limit {max_pixels})") from None
        except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:  # a truncated header
            raise UnusableImage(f"not a readable image ({exc})") from None
        if image.width * image.height > max_pixels:
            raise TooManyPixels(
                f"too many pixels: {image.width}x{image.height} is more than {max_pixels} pixels"
            )
        header_size = image.size
        if draft_side is not None and max(image.size) > draft_side:
            factor = draft_side / max(image.size)
            # JPEG: decode at the smallest DCT scale that still covers draft_side (others: no effect).
            image.draft(None, (math.ceil(image.width * factor), math.ceil(image.height * factor)))
        if max_decoded_pixels is not None and image.width * image.height > max_decoded_pixels:
            raise TooManyPixels(
                f"too many pixels: {image.width}x{image.height} {image.format} images are decoded in full, "
                f"and the limit for that is {max_decoded_pixels} pixels"
            )
        try:
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise TooManyPixels(f"too many pixels (limit {max_pixels})") from None
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise UnusableImage(f"not a readable image ({exc})") from None
    return image, header_size


def _oriented(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception as exc:  # Pillow's EXIF reader/writer fails in many ways on hostile tags
        raise UnusableImage(f"malformed EXIF metadata ({type(exc).__name__}: {exc})") from None


def _on_white(image: Image.Image) -> Image.Image:
    background = Image.new("RGBA", image.size, _WHITE)
    return Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB with the image's meaning kept (see the module docstring)."""
    if image.mode in _SIXTEEN_BIT_MODES:
        # PNG's 16-bit grey opens as I;16 (or I): 0..65535, which 8-bit conversion would clip to 255.
        grey = np.asarray(image, dtype=np.float64)
        eight = np.clip(np.rint(grey / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(eight, mode="L").convert("RGB")
    if image.mode == "F":
        grey = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0) * 255.0
        return Image.fromarray(np.rint(grey).astype(np.uint8), mode="L").convert("RGB")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        return _on_white(image)
    return image.convert("RGB")


def decode(data: bytes, max_pixels: int, formats: Sequence[str] = ACCEPTED_FORMATS) -> Decoded:
    """Decode (`formats` only, pixel count checked first), orient, and convert to RGB."""
    image = _open(data, max_pixels, formats)
    kind = str(image.format)
    if kind == "MPO":  # Pillow's class for the multi-picture JPEGs cameras write
        kind = "JPEG"
    try:
        return Decoded(to_rgb(_oriented(image)), kind)
    except UnusableImage:
        raise
    except (OSError, ValueError) as exc:
        raise UnusableImage(f"not a readable image ({exc})") from None


@dataclass(frozen=True)
class Reduced:
    image: Image.Image  # 8-bit RGB, EXIF orientation applied, longer side at most the working side
    format: str  # as Decoded.format
    size: tuple[int, int]  # the full image's (width, height), orientation applied


def _reduced(image: Image.Image, factor: int) -> Image.Image:
    if factor < 2:
        return image
    try:
        return image.reduce(factor)  # box average, no full-size copy (modes it supports)
    except ValueError:  # palette and the rarer modes: converted at full size first
        return to_rgb(image).reduce(factor)


def decode_reduced(
    data: bytes,
    max_pixels: int,
    side: int,
    max_decoded_pixels: int,
    formats: Sequence[str] = ACCEPTED_FORMATS,
) -> Reduced:
    """Decode (as `decode`) at a working size: the longer side at most `side`, scaled as
    `face_analysis.faces.find_faces` scales. Pixels are bounded before decoding: `max_pixels` for the
    image and `max_decoded_pixels` for what is actually decoded (a JPEG's reduced DCT scale; other formats
    in full)."""
    image, (full_width, full_height) = _open_sized(
        data, max_pixels, formats, draft_side=side, max_decoded_pixels=max_decoded_pixels
    )
    kind = "JPEG" if image.format == "MPO" else str(image.format)
    try:
        image = _reduced(image, math.floor(max(image.size) / side))
        before = image.size
        oriented = to_rgb(_oriented(image))
        if oriented.size != before and oriented.size == before[::-1]:  # EXIF rotated it by 90 degrees
            full_width, full_height = full_height, full_width
        scale = min(1.0, side / max(full_width, full_height))
        target = (round(full_width * scale), round(full_height * scale))
        if oriented.size != target:
            oriented = oriented.resize(target, Image.Resampling.BICUBIC)
        return Reduced(oriented, kind, (full_width, full_height))
    except UnusableImage:
        raise
    except (OSError, ValueError) as exc:
        raise UnusableImage(f"not a readable image ({exc})") from None


def decode_image(data: bytes, max_pixels: int, formats: Sequence[str] = ACCEPTED_FORMATS) -> Image.Image:
    """The decoded RGB image alone (see `decode`)."""
    return decode(data, max_pixels, formats).image
