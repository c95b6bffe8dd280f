"""Checks that a selfie is a real JPEG/PNG of sane size before it reaches the training container."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from avatar_api.errors import InvalidRequest, PayloadTooLarge
from avatar_api.settings import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, MIN_IMAGE_SIDE

# Pillow refuses (DecompressionBombError) anything over twice this before decoding; we check the exact
# limit ourselves from the header, so this is only the backstop.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

_EXTENSIONS = {"JPEG": "jpg", "PNG": "png"}


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
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind = image.format
                width, height = image.size
                if kind not in _EXTENSIONS:
                    raise InvalidRequest(f"{field}: only JPEG and PNG images are accepted, not {kind}")
                if width * height > MAX_IMAGE_PIXELS:
                    raise PayloadTooLarge(
                        f"{field}: image has {width}x{height} pixels; the limit is {MAX_IMAGE_PIXELS:,}"
                    )
                if min(width, height) < MIN_IMAGE_SIDE:
                    raise InvalidRequest(
                        f"{field}: image is {width}x{height}; each side must be at least {MIN_IMAGE_SIDE} px"
                    )
                image.load()  # decode every pixel: truncated or corrupt files fail here
    except (InvalidRequest, PayloadTooLarge):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise PayloadTooLarge(f"{field}: image has too many pixels ({error})") from error
    except UnidentifiedImageError as error:
        raise InvalidRequest(f"{field}: not a JPEG or PNG image") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise InvalidRequest(f"{field}: image is corrupt or truncated ({error})") from error
    return CheckedImage(data=data, extension=_EXTENSIONS[kind], width=width, height=height)
