"""Image preparation: decode safely, apply EXIF orientation, crop square around the face, resize.

Face detection uses the LBP frontal-face cascade that ships inside scikit-image
(`skimage.data.lbp_frontal_face_cascade_filename()`, OpenCV's `lbpcascade_frontalface`). OpenCV 5's pip
wheels no longer bundle the Haar cascade files nor `CascadeClassifier`, and MediaPipe's wheels are
heavy and platform-limited; scikit-image is already a dependency and its cascade needs no download.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image

from training_service.decode import UnusableImage, decode_image
from training_service.errors import NotEnoughImages

logger = logging.getLogger(__name__)

# Largest side the detector looks at; faces in selfies are large, so this costs no recall.
_DETECT_SIDE = 640
# The crop around a detected face: side = this × face box side (head, hair and some shoulders).
_FACE_CONTEXT = 2.2


@dataclass
class PreparedImages:
    usable: dict[str, Image.Image] = field(default_factory=dict)  # file name -> RGB square at resolution
    rejected: dict[str, str] = field(default_factory=dict)  # file name -> reason


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    size: int  # square


@lru_cache(maxsize=1)
def _face_cascade():  # skimage.feature.Cascade (not picklable across processes; one per process)
    from skimage.data import lbp_frontal_face_cascade_filename
    from skimage.feature import Cascade

    return Cascade(lbp_frontal_face_cascade_filename())


def detect_faces(image: Image.Image) -> list[Box]:
    """Square face boxes in image coordinates, largest first."""
    scale = min(1.0, _DETECT_SIDE / max(image.size))
    small = image if scale == 1.0 else image.resize((round(image.width * scale), round(image.height * scale)))
    gray = np.asarray(small.convert("L"), dtype=np.float64) / 255.0
    short = min(gray.shape)
    min_side = max(24, short // 8)
    found = _face_cascade().detect_multi_scale(
        img=gray, scale_factor=1.2, step_ratio=1, min_size=(min_side, min_side), max_size=(short, short)
    )
    boxes = [
        Box(round(f["c"] / scale), round(f["r"] / scale), round(max(f["width"], f["height"]) / scale))
        for f in found
    ]
    return sorted(boxes, key=lambda b: b.size, reverse=True)


def face_crop_box(image_size: tuple[int, int], face: Box) -> tuple[int, int, int, int]:
    """A square around the face, as large as `_FACE_CONTEXT` allows inside the image."""
    width, height = image_size
    side = min(round(face.size * _FACE_CONTEXT), width, height)
    cx, cy = face.left + face.size / 2, face.top + face.size / 2
    left = int(min(max(cx - side / 2, 0), width - side))
    top = int(min(max(cy - side / 2, 0), height - side))
    return left, top, left + side, top + side


def center_crop_box(image_size: tuple[int, int]) -> tuple[int, int, int, int]:
    width, height = image_size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def prepare_images(
    images: dict[str, bytes], resolution: int, face_crop: bool, min_usable: int, max_pixels: int
) -> PreparedImages:
    """Decode and crop every image; raise NotEnoughImages listing the rejects when too few remain."""
    prepared = PreparedImages()
    for name in sorted(images):
        try:
            image = decode_image(images[name], max_pixels)
        except UnusableImage as exc:  # unreadable, too many pixels, malformed EXIF (training_service.decode)
            prepared.rejected[name] = exc.reason
            continue
        if min(image.size) < 64:
            prepared.rejected[name] = f"too small ({image.width}x{image.height}, need at least 64 px)"
            continue
        if face_crop:
            faces = detect_faces(image)
            if not faces:
                prepared.rejected[name] = "no face found"
                continue
            box = face_crop_box(image.size, faces[0])
        else:
            box = center_crop_box(image.size)
        prepared.usable[name] = image.crop(box).resize((resolution, resolution), Image.Resampling.LANCZOS)
    for name, reason in prepared.rejected.items():
        logger.info("image %s not used: %s", name, reason)
    if len(prepared.usable) < min_usable:
        detail = "; ".join(f"{name}: {reason}" for name, reason in prepared.rejected.items())
        raise NotEnoughImages(
            f"{len(prepared.usable)} usable image(s), at least {min_usable} needed"
            + (f"; not used: {detail}" if detail else "")
        )
    return prepared
