"""Checks that a selfie is a real JPEG/PNG of sane size before it reaches the training container.

Each image is decoded once, at the screening's working size (`WORKING_SIDE`), with its pixels bounded
before decoding (docs/limits.md): the header's pixel count, a JPEG decoded at a reduced DCT scale, a PNG
(no reduced decoding) only within `MAX_DECODED_PIXELS`. The caller may look at the working image while it
exists (`inspect`); nothing keeps it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from avatar_api.errors import InvalidRequest, PayloadTooLarge
from avatar_api.settings import MAX_DECODED_PIXELS, MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, MIN_IMAGE_SIDE
from face_analysis.decode import NotAcceptedFormat, TooManyPixels, UnusableImage, decode_reduced
from face_analysis.faces import DETECT_SIDE

# The face detector's own scale: screening a larger image would only be scaled down again (faces.py).
WORKING_SIDE = DETECT_SIDE
# Called with the working-size RGB image and the full image's (width, height).
Inspect = Callable[[Image.Image, tuple[int, int]], None]

# Pillow refuses (DecompressionBombError) anything over twice this before decoding; we check the exact
# limit ourselves from the header, so this is only the backstop.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

_EXTENSIONS = {"JPEG": "jpg", "PNG": "png"}
_ACCEPTED = tuple(_EXTENSIONS)


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    extension: str  # jpg | png
    width: int
    height: int


def check_image(data: bytes, field: str, inspect: Inspect | None = None) -> CheckedImage:
    """Accept `data` only if it is a JPEG or PNG within the byte and pixel limits that decodes.

    `field` names the request field in the error message (e.g. `images[3]`); `inspect`, if given, sees
    the working-size image of an accepted one."""
    if len(data) > MAX_IMAGE_BYTES:
        raise PayloadTooLarge(
            f"{field}: image is {len(data) / 2**20:.1f} MiB; the limit is {MAX_IMAGE_BYTES // 2**20} MiB"
        )
    if not data:
        raise InvalidRequest(f"{field}: image is empty")
    try:
        # The decoder the training container uses (face_analysis.decode): JPEG and PNG only, pixel count
        # from the header first, EXIF orientation, every mode converted to what the image shows.
        decoded = decode_reduced(data, MAX_IMAGE_PIXELS, WORKING_SIDE, MAX_DECODED_PIXELS, _ACCEPTED)
    except TooManyPixels as error:
        raise PayloadTooLarge(f"{field}: image has too many pixels ({error.reason})") from error
    except NotAcceptedFormat as error:
        found = f", not {error.found}" if error.found else ""
        raise InvalidRequest(f"{field}: only JPEG and PNG images are accepted{found}") from error
    except UnusableImage as error:  # corrupt, truncated, malformed EXIF
        raise InvalidRequest(f"{field}: {error.reason}") from error
    width, height = decoded.size
    if min(width, height) < MIN_IMAGE_SIDE:
        raise InvalidRequest(
            f"{field}: image is {width}x{height}; each side must be at least {MIN_IMAGE_SIDE} px"
        )
    if inspect is not None:
        inspect(decoded.image, decoded.size)
    kind = decoded.format
    return CheckedImage(data=data, extension=_EXTENSIONS[kind], width=width, height=height)
