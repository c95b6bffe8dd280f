"""The training's face screening (face_analysis): keep only the images that pass, crop each to the
square around its aligned face, and keep the set's identity to score the previews against. Where the
photo allows it, a second, looser crop (head and upper body) joins the training set, and a face that had
to be enlarged more than `MAX_UPSCALE`× weighs less in the loss (`training_weights`)."""

from __future__ import annotations

import logging
import math

from PIL import Image

from face_analysis.faces import CropBox, Face, apply_crop
from face_analysis.screening import Screening, Thresholds, screen

logger = logging.getLogger(__name__)


def screen_and_crop(
    decoded: dict[str, Image.Image], resolution: int, thresholds: Thresholds | None = None
) -> tuple[dict[str, Image.Image], dict[str, str], Screening]:
    """(name -> `resolution`² face crop, name -> refusal "reason (message)", the screening)."""
    screening = screen(decoded, limits=thresholds)
    usable: dict[str, Image.Image] = {}
    refused: dict[str, str] = {}
    for verdict in screening.verdicts:
        if verdict.usable and verdict.crop is not None:
            usable[verdict.name] = apply_crop(decoded[verdict.name], verdict.crop, resolution)
        else:
            refused[verdict.name] = f"{verdict.reason} ({verdict.message})"
    logger.info("face screening: %d of %d image(s) kept", len(usable), len(screening.verdicts))
    return usable, refused, screening


# The looser crop's side relative to the tight one (2.2 × the face → about 3.5: head and upper body).
WIDE_FACTOR = 1.6
# Beyond this enlargement of the tight crop a face is mostly interpolated pixels: its loss weighs
# LOW_RESOLUTION_WEIGHT. An 80 px face (the screening's minimum) in a 512 px training image is enlarged
# 2.9×; the weight keeps such selfies (the API accepted them) without letting their blur dominate.
MAX_UPSCALE = 2.0
LOW_RESOLUTION_WEIGHT = 0.5


def wide_box(image_size: tuple[int, int], box: CropBox) -> CropBox | None:
    """The looser square around the same face, moved inside the image; None when the photo is too small
    for it (then the tight crop alone is used)."""
    width, height = image_size
    size = round(box.size * WIDE_FACTOR)
    if size > min(width, height):
        return None
    cx = min(max(box.center_x, size / 2), width - size / 2)
    cy = min(max(box.center_y, size / 2), height - size / 2)
    return CropBox(center_x=cx, center_y=cy, size=size, angle=box.angle)


def wide_crops(
    decoded: dict[str, Image.Image], screening: Screening, resolution: int
) -> dict[str, Image.Image]:
    """`<name>#wide` -> the looser `resolution`² crop of each kept selfie whose photo has room for it."""
    crops: dict[str, Image.Image] = {}
    for verdict in screening.usable:
        if verdict.crop is not None and (box := wide_box(decoded[verdict.name].size, verdict.crop)):
            crops[f"{verdict.name}#wide"] = apply_crop(decoded[verdict.name], box, resolution)
    return crops


FaceBox = tuple[float, float, float]  # centre x, centre y, side: fractions of the training image


def face_box(face: Face, box: CropBox) -> FaceBox:
    """Where the detected face lies in the crop `box` makes (rotated with it), as fractions."""
    dx = face.left + face.side / 2 - box.center_x
    dy = face.top + face.side / 2 - box.center_y
    angle = math.radians(box.angle)  # PIL rotates counter-clockwise on screen (y pointing down)
    x = dx * math.cos(angle) + dy * math.sin(angle)
    y = -dx * math.sin(angle) + dy * math.cos(angle)
    return (0.5 + x / box.size, 0.5 + y / box.size, face.side / box.size)


def face_boxes(decoded: dict[str, Image.Image], screening: Screening) -> dict[str, FaceBox]:
    """Name (and `<name>#wide`) -> the face box of each training crop (the face-weighted loss)."""
    boxes: dict[str, FaceBox] = {}
    for verdict in screening.usable:
        if verdict.crop is None or verdict.face is None:
            continue
        boxes[verdict.name] = face_box(verdict.face, verdict.crop)
        if wide := wide_box(decoded[verdict.name].size, verdict.crop):
            boxes[f"{verdict.name}#wide"] = face_box(verdict.face, wide)
    return boxes


def crop_corners(
    decoded: dict[str, Image.Image], screening: Screening
) -> dict[str, tuple[float, float, float]]:
    """Name (and `<name>#wide`) -> (left, top, side) of each training crop's square in its photo (before
    any eye-levelling rotation, which turns the square about its centre)."""

    def corner(box: CropBox) -> tuple[float, float, float]:
        return box.center_x - box.size / 2, box.center_y - box.size / 2, box.size

    corners: dict[str, tuple[float, float, float]] = {}
    for verdict in screening.usable:
        if verdict.crop is None:
            continue
        corners[verdict.name] = corner(verdict.crop)
        if wide := wide_box(decoded[verdict.name].size, verdict.crop):
            corners[f"{verdict.name}#wide"] = corner(wide)
    return corners


def training_weights(screening: Screening, resolution: int) -> dict[str, float]:
    """Name -> loss weight of each kept selfie: LOW_RESOLUTION_WEIGHT when its tight crop was enlarged
    more than MAX_UPSCALE×, else 1 (its wide crop, enlarged less, keeps weight 1)."""
    return {
        v.name: LOW_RESOLUTION_WEIGHT if v.crop and resolution / v.crop.size > MAX_UPSCALE else 1.0
        for v in screening.usable
    }
