"""Image preparation: decode safely (`face_analysis.decode`, the API's decoder too: accepted formats, EXIF
orientation, modes), then either screen the faces and crop square around each aligned face (`screening`,
face_analysis: docs/faces.md) or center-crop; resize."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from PIL import Image

from face_analysis.decode import UnusableImage, decode_image
from face_analysis.screening import Screening
from training_service.errors import NotEnoughImages
from training_service.screening import (
    FaceBox,
    crop_corners,
    face_boxes,
    screen_and_crop,
    training_weights,
    wide_crops,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CropGeometry:
    """Where a training square came from, in SDXL's micro-conditioning terms (Podell et al. 2023, §2.2):
    the source photo's (height, width) and the crop's top-left corner, both in pixels of the photo scaled
    so the crop is `resolution` wide (diffusers' `train_dreambooth_lora_sdxl.py` resizes, then crops)."""

    original_size: tuple[int, int]
    crop_top_left: tuple[int, int]

    @classmethod
    def square(cls, resolution: int) -> CropGeometry:
        """An image that is the whole square (class images, rendered at `resolution`)."""
        return cls((resolution, resolution), (0, 0))

    @classmethod
    def of_crop(
        cls, photo_size: tuple[int, int], left: float, top: float, side: float, resolution: int
    ) -> CropGeometry:
        """The crop `side` px wide at (`left`, `top`) of a photo `photo_size` = (width, height)."""
        scale = resolution / side
        width, height = photo_size
        return cls(
            (round(height * scale), round(width * scale)),
            (max(0, round(top * scale)), max(0, round(left * scale))),
        )


@dataclass
class PreparedImages:
    usable: dict[str, Image.Image] = field(default_factory=dict)  # file name -> RGB square at resolution
    rejected: dict[str, str] = field(default_factory=dict)  # file name -> reason
    screening: Screening | None = None  # the face screening, when face_crop is on
    wide: dict[str, Image.Image] = field(default_factory=dict)  # "<name>#wide" -> the looser crop
    weights: dict[str, float] = field(default_factory=dict)  # name -> loss weight (default 1)
    faces: dict[str, FaceBox] = field(default_factory=dict)  # name -> face box in its crop (fractions)
    crops: dict[str, CropGeometry] = field(default_factory=dict)  # name -> where its square was cut from

    def training_set(self) -> tuple[list[Image.Image], list[float]]:
        """Every training image (tight crops, then the looser ones) and its loss weight."""
        names = [*self.usable, *self.wide]
        images = [*self.usable.values(), *self.wide.values()]
        return images, [self.weights.get(name, 1.0) for name in names]

    def training_faces(self) -> list[FaceBox | None]:
        """The face box of each image of `training_set` (None: no face known, a center crop)."""
        return [self.faces.get(name) for name in [*self.usable, *self.wide]]

    def training_crops(self) -> list[CropGeometry | None]:
        """Where each image of `training_set` was cut from its photo (SDXL's micro-conditioning)."""
        return [self.crops.get(name) for name in [*self.usable, *self.wide]]


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
    decoded: dict[str, Image.Image] = {}
    for name in sorted(images):
        try:
            image = decode_image(images[name], max_pixels)
        except UnusableImage as exc:  # unreadable, too many pixels, malformed EXIF (face_analysis.decode)
            prepared.rejected[name] = exc.reason
            continue
        if min(image.size) < 64:
            prepared.rejected[name] = f"too small ({image.width}x{image.height}, need at least 64 px)"
            continue
        if face_crop:
            decoded[name] = image
        else:
            box = center_crop_box(image.size)
            prepared.crops[name] = CropGeometry.of_crop(
                image.size, box[0], box[1], box[2] - box[0], resolution
            )
            prepared.usable[name] = image.crop(box).resize((resolution, resolution), Image.Resampling.LANCZOS)
    if face_crop:
        usable, refused, prepared.screening = screen_and_crop(decoded, resolution)
        prepared.usable.update(usable)
        prepared.rejected.update(refused)
        prepared.wide = wide_crops(decoded, prepared.screening, resolution)
        prepared.weights = training_weights(prepared.screening, resolution)
        prepared.faces = face_boxes(decoded, prepared.screening)
        prepared.crops = {
            name: CropGeometry.of_crop(decoded[name.split("#")[0]].size, *corner, resolution)
            for name, corner in crop_corners(decoded, prepared.screening).items()
        }
    for name, reason in prepared.rejected.items():
        logger.info("image %s not used: %s", name, reason)
    if len(prepared.usable) < min_usable:
        detail = "; ".join(f"{name}: {reason}" for name, reason in prepared.rejected.items())
        raise NotEnoughImages(
            f"{len(prepared.usable)} usable image(s), at least {min_usable} needed"
            + (f"; not used: {detail}" if detail else "")
        )
    return prepared
