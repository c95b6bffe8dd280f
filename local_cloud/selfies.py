"""Sample "selfies" for the demo and the tests, made from a bundled public-domain photo.

`skimage.data.astronaut()` is NASA's portrait of astronaut Eileen Collins (public domain), shipped inside
scikit-image, so nothing is downloaded. Each selfie is a different crop around the face, some mirrored,
rotated a little, or colour-shifted — the variety a person's phone photos would have.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageEnhance

FACE_CENTER = (232, 118)  # (x, y) of the face in the 512×512 portrait
# (crop size, dx, dy, mirror, rotation degrees, brightness, saturation, hue shift)
_VARIANTS = (
    (300, 0, 10, False, 0, 1.0, 1.0, 0),
    (260, -12, 4, True, 0, 1.1, 0.9, 0),
    (340, 10, 20, False, 4, 0.95, 1.2, 0),
    (220, 4, -2, False, -5, 1.05, 1.0, 8),
    (380, -6, 30, True, 2, 0.9, 0.8, 0),
    (280, 14, 12, True, -3, 1.15, 1.1, -6),
    (320, -16, 16, False, 6, 1.0, 0.7, 0),
    (240, 0, 0, True, 0, 0.85, 1.3, 4),
    (360, 8, 26, False, -2, 1.2, 1.0, 0),
    (300, -4, 8, True, 3, 1.0, 1.0, -10),
    (270, 6, 6, False, -6, 0.92, 1.15, 6),
    (350, -10, 22, True, 5, 1.08, 0.85, 0),
)


def _portrait() -> Image.Image:
    from skimage import data  # scikit-image is only needed here

    return Image.fromarray(data.astronaut())


def _shift_hue(image: Image.Image, degrees: int) -> Image.Image:
    if not degrees:
        return image
    hsv = np.asarray(image.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(int) + degrees * 255 // 360) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def make_selfies(count: int = 10, size: int = 384) -> list[Image.Image]:
    """`count` (≤ 12) varied face crops of the portrait, `size`×`size` RGB (at 384 the smallest face is
    about 90 px, above the screening's 80 px minimum: docs/faces.md)."""
    if not 1 <= count <= len(_VARIANTS):
        raise ValueError(f"count must be 1-{len(_VARIANTS)}")
    portrait = _portrait()
    selfies = []
    for crop, dx, dy, mirror, rotation, brightness, saturation, hue in _VARIANTS[:count]:
        cx, cy = FACE_CENTER[0] + dx, FACE_CENTER[1] + dy
        half = crop // 2
        left = min(max(cx - half, 0), portrait.width - crop)
        top = min(max(cy - half, 0), portrait.height - crop)
        image = portrait.crop((left, top, left + crop, top + crop))
        if rotation:
            image = image.rotate(rotation, resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128))
        if mirror:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        image = ImageEnhance.Brightness(image).enhance(brightness)
        image = ImageEnhance.Color(image).enhance(saturation)
        image = _shift_hue(image, hue)
        selfies.append(image.resize((size, size), Image.Resampling.LANCZOS))
    return selfies


def make_faceless_images(count: int = 10, size: int = 256) -> list[Image.Image]:
    """Photos with no face in them (the portrait's background, textures): a training must refuse them."""
    portrait = np.asarray(_portrait())
    images = []
    for n in range(count):
        # the lower-right flag/suit area and flat colour patches: no face anywhere
        top, left = 330 + (n % 3) * 20, 300 + (n % 4) * 30
        patch = Image.fromarray(portrait[top : top + 150, left : left + 150]).resize((size, size))
        if n % 2:
            patch = patch.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        images.append(patch)
    return images


def to_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
