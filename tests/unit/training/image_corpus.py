"""A corpus of awkward selfie files, generated in code: malformed EXIF, every colour mode the decoder must
convert, and other formats behind an image suffix. Shared by the unit and integration training tests."""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image

SIDE = 96  # big enough for the 64 px minimum
ORIENTATION = 0x0112


def encoded(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def _ifd(entries: list[tuple[int, int, int, bytes]], extra: bytes = b"") -> bytes:
    """An EXIF APP1 payload: little-endian TIFF header and one IFD of (tag, type, count, 4-byte value)."""
    body = struct.pack("<H", len(entries))
    body += b"".join(struct.pack("<HHI", tag, kind, count) + value for tag, kind, count, value in entries)
    return b"Exif\x00\x00II*\x00\x08\x00\x00\x00" + body + b"\x00\x00\x00\x00" + extra


def _jpeg_with_app1(payload: bytes, size: tuple[int, int] = (SIDE * 2, SIDE)) -> bytes:
    jpeg = encoded(Image.new("RGB", size, (200, 40, 40)), "JPEG")
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]  # right after SOI


_ROTATE = (ORIENTATION, 3, 1, struct.pack("<HH", 6, 0))  # rotate 90° when displayed

# Each of these makes ImageOps.exif_transpose raise (Pillow 13): it writes the EXIF back after rotating.
MALFORMED_EXIF: dict[str, bytes] = {
    "exif-width-as-text.jpg": _jpeg_with_app1(_ifd([(0x0100, 2, 4, b"abc\x00"), _ROTATE])),  # struct.error
    "exif-xres-as-text.jpg": _jpeg_with_app1(_ifd([(0x011A, 2, 4, b"abc\x00"), _ROTATE])),  # TypeError
    "exif-samples-as-float.jpg": _jpeg_with_app1(_ifd([(0x0115, 11, 1, struct.pack("<f", 1.5)), _ROTATE])),
}
# EXIF that is odd but harmless: the image is used (orientation applied where readable).
ODD_EXIF: dict[str, bytes] = {
    "exif-truncated.jpg": _jpeg_with_app1(b"Exif\x00\x00II*\x00\x08\x00\x00"),
    "exif-bad-offset.jpg": _jpeg_with_app1(b"Exif\x00\x00II*\x00\xff\xff\xff\x7f"),
}


def grey16_png(value: int) -> bytes:
    """A 16-bit greyscale PNG of one level (0..65535): Pillow opens it as I;16."""
    return encoded(Image.fromarray(np.full((SIDE, SIDE), value, dtype=np.uint16)), "PNG")


def _half_transparent(mode: str, colour: tuple[int, ...]) -> Image.Image:
    """Left half opaque `colour`, right half fully transparent (alpha 0, colour black underneath)."""
    image = Image.new(mode, (SIDE, SIDE), (0,) * len(colour))
    image.paste(Image.new(mode, (SIDE // 2, SIDE), colour), (0, 0))
    return image


def palette_png_with_transparency() -> bytes:
    """Palette image: index 0 (black) is transparent, index 1 (blue) fills the left half."""
    image = Image.new("P", (SIDE, SIDE), 0)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0, 0, 0] * 254)
    image.paste(1, (0, 0, SIDE // 2, SIDE))
    return encoded(image, "PNG", transparency=0)


def grey_png_with_trns() -> bytes:
    """Greyscale PNG whose level 0 is transparent (tRNS), level 100 on the left."""
    image = Image.new("L", (SIDE, SIDE), 0)
    image.paste(100, (0, 0, SIDE // 2, SIDE))
    return encoded(image, "PNG", transparency=0)


def cmyk_jpeg() -> bytes:
    """Pure red in CMYK (C=0, M=255, Y=255, K=0), as print workflows save JPEGs (Adobe marker)."""
    return encoded(Image.new("CMYK", (SIDE, SIDE), (0, 255, 255, 0)), "JPEG", quality=95)


# name -> (bytes, expected RGB at the left-half centre, expected RGB at the right-half centre)
CONVERSIONS: dict[str, tuple[bytes, tuple[int, int, int], tuple[int, int, int]]] = {
    "grey16-mid.png": (grey16_png(32896), (128, 128, 128), (128, 128, 128)),  # 32896 / 257 = 128
    "grey16-dark.png": (grey16_png(2570), (10, 10, 10), (10, 10, 10)),
    "palette-transparent.png": (palette_png_with_transparency(), (0, 0, 255), (255, 255, 255)),
    "grey-trns.png": (grey_png_with_trns(), (100, 100, 100), (255, 255, 255)),
    "grey-alpha.png": (encoded(_half_transparent("LA", (60, 255)), "PNG"), (60, 60, 60), (255, 255, 255)),
    "rgba.png": (encoded(_half_transparent("RGBA", (0, 200, 0, 255)), "PNG"), (0, 200, 0), (255, 255, 255)),
    "rgba.webp": (
        encoded(_half_transparent("RGBA", (0, 200, 0, 255)), "WEBP", lossless=True),
        (0, 200, 0),
        (255, 255, 255),
    ),
    "cmyk.jpg": (cmyk_jpeg(), (255, 0, 0), (255, 0, 0)),
    "bilevel.png": (encoded(Image.new("1", (SIDE, SIDE), 1), "PNG"), (255, 255, 255), (255, 255, 255)),
}

# Formats Pillow decodes but the service does not accept, behind an accepted suffix.
OTHER_FORMATS: dict[str, bytes] = {
    "really-a-tiff.jpg": encoded(Image.new("RGB", (SIDE, SIDE), "red"), "TIFF"),
    "really-a-bmp.png": encoded(Image.new("RGB", (SIDE, SIDE), "red"), "BMP"),
    "really-a-gif.webp": encoded(Image.new("RGB", (SIDE, SIDE), "red"), "GIF"),
    "really-a-psd.jpg": b"8BPS\x00\x01" + bytes(6) + struct.pack(">HIIHH", 3, SIDE, SIDE, 8, 3) + bytes(64),
}
