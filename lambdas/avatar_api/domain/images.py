"""Checks that a selfie is a real JPEG/PNG of sane size before it reaches the training container."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from avatar_api.errors import InvalidRequest, PayloadTooLarge
from avatar_api.settings import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, MIN_IMAGE_SIDE
from face_analysis.decode import NotAcceptedFormat, TooManyPixels, UnusableImage, decode

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


def check_image(data: bytes, field: str) -> CheckedImage:
    """Accept `data` only if it is a JPEG or PNG within the byte and pixel limits that fully decodes.

    `field` names the request field in the error message (e.g. `images[3]`)."""
    if len(data) > MAX_IMAGE_BYTES:
        raise PayloadTooLarge(
            f"{field}: image is {len(data) / 2**20:.1f} MiB; the limit is {MAX_IMAGE_BYTES // 2**20} MiB"
        )
    if not data:
        raise InvalidRequest(f"{field}: image is empty")
    try:
        # The decoder the training container uses (face_analysis.decode): JPEG and PNG only, pixel count
        # from the header first, EXIF orientation, every mode converted to what the image shows.
        decoded = decode(data, MAX_IMAGE_PIXELS, formats=_ACCEPTED)
    except TooManyPixels as error:
        raise PayloadTooLarge(f"{field}: image has too many pixels ({error.reason})") from error
    except NotAcceptedFormat as error:
        found = f", not {error.found}" if error.found else ""
        raise InvalidRequest(f"{field}: only JPEG and PNG images are accepted{found}") from error
    except UnusableImage as error:  # corrupt, truncated, malformed EXIF
        raise InvalidRequest(f"{field}: {error.reason}") from error
    width, height = decoded.image.size
    if min(width, height) < MIN_IMAGE_SIDE:
        raise InvalidRequest(
            f"{field}: image is {width}x{height}; each side must be at least {MIN_IMAGE_SIDE} px"
        )
    kind = decoded.format
    return CheckedImage(data=data, extension=_EXTENSIONS[kind], width=width, height=height)


def decoded(image: CheckedImage) -> Image.Image:
    """The RGB image as the training sees it (the same decoder: orientation and modes applied)."""
    return decode(image.data, MAX_IMAGE_PIXELS, formats=_ACCEPTED).image
