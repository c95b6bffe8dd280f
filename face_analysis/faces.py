"""Find faces: detection (dlib's HOG detector: frontal, turned left or right, tilted), five landmarks,
the eye line, a 128-d embedding, and a square crop around the face rotated so the eyes are level."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from face_analysis.models import models

# The detector looks at the image scaled so its longer side is at most this (selfies have large faces).
DETECT_SIDE = 800
# Images whose longer side is at most this are also upsampled once (finds faces down to ~40 px); when
# nothing is found, the detector looks once more at twice the size.
UPSAMPLE_BELOW = 640
# Detections scoring below this are ignored (dlib's own threshold is 0; weak hits are hands, patterns).
MIN_DETECTION_SCORE = 0.3
# The aligned face chip the embedding and the quality checks look at (dlib's standard chip).
CHIP_SIZE = 150
CHIP_PADDING = 0.25


@dataclass(frozen=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True)
class CropBox:
    """A square `size` px wide centred on (`center_x`, `center_y`), after rotating the image by
    `angle` degrees (counter-clockwise) about that centre so the eyes are level."""

    center_x: float
    center_y: float
    size: int
    angle: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "center_x": round(self.center_x, 1),
            "center_y": round(self.center_y, 1),
            "size": self.size,
            "angle": round(self.angle, 1),
        }


@dataclass(frozen=True)
class Face:
    left: float  # detector box, image pixels
    top: float
    side: float
    score: float
    landmarks: tuple[Point, ...]  # dlib 5-point order: two corners of each eye, then below the nose
    embedding: np.ndarray  # 128 floats; same person when the distance is below 0.6
    chip: np.ndarray  # CHIP_SIZE² RGB, aligned

    @property
    def eyes(self) -> tuple[Point, Point]:
        """Centres of the eye on the image's left and on its right."""
        a = Point(
            (self.landmarks[0].x + self.landmarks[1].x) / 2, (self.landmarks[0].y + self.landmarks[1].y) / 2
        )
        b = Point(
            (self.landmarks[2].x + self.landmarks[3].x) / 2, (self.landmarks[2].y + self.landmarks[3].y) / 2
        )
        return (a, b) if a.x <= b.x else (b, a)

    @property
    def roll(self) -> float:
        """Degrees the eye line is tilted (positive: the right-hand eye is lower)."""
        left, right = self.eyes
        return math.degrees(math.atan2(right.y - left.y, right.x - left.x))


def find_faces(image: Image.Image) -> list[Face]:
    """Every face in an RGB image, largest first, in the image's pixel coordinates."""
    import dlib

    found = models()
    scale = min(1.0, DETECT_SIDE / max(image.size))
    small = image if scale == 1.0 else image.resize((round(image.width * scale), round(image.height * scale)))
    pixels = np.asarray(small.convert("RGB"))
    upsample = 1 if max(small.size) <= UPSAMPLE_BELOW else 0
    rects, scores, _ = found.detector.run(pixels, upsample, 0.0)
    if not any(score >= MIN_DETECTION_SCORE for score in scores):
        # Nothing at this scale: look once more at twice the size (small faces in wide photos).
        rects, scores, _ = found.detector.run(pixels, upsample + 1, 0.0)
    faces = []
    for rect, score in zip(rects, scores, strict=True):
        if score < MIN_DETECTION_SCORE:
            continue
        shape = found.landmarks(pixels, rect)
        descriptor = found.embedding.compute_face_descriptor(pixels, shape)
        chip = dlib.get_face_chip(pixels, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        points = tuple(
            Point(shape.part(i).x / scale, shape.part(i).y / scale) for i in range(shape.num_parts)
        )
        faces.append(
            Face(
                left=rect.left() / scale,
                top=rect.top() / scale,
                side=rect.width() / scale,
                score=float(score),
                landmarks=points,
                embedding=np.asarray(descriptor, dtype=np.float64),
                chip=np.asarray(chip),
            )
        )
    return sorted(faces, key=lambda face: face.side, reverse=True)


def crop_box(image_size: tuple[int, int], face: Face, margin: float) -> CropBox:
    """A square `margin` × the face's side around the face (head and shoulders at ~2.2), eyes level,
    as large as fits in the image and moved inside it when the face is near an edge."""
    width, height = image_size
    size = int(min(round(face.side * margin), width, height))
    left_eye, right_eye = face.eyes
    # Centre between the eyes and the face box's centre: keeps hair and chin in the square.
    cx = (left_eye.x + right_eye.x) / 4 + (face.left + face.side / 2) / 2
    cy = (left_eye.y + right_eye.y) / 4 + (face.top + face.side / 2) / 2
    cx = min(max(cx, size / 2), width - size / 2)
    cy = min(max(cy, size / 2), height - size / 2)
    return CropBox(center_x=cx, center_y=cy, size=size, angle=face.roll)


def apply_crop(image: Image.Image, box: CropBox, resolution: int) -> Image.Image:
    """The crop as a `resolution`² RGB image. When the box is rotated (eye-levelling), the square's
    corners may reach past the image: they come from the image mirrored at its edges (reflect padding),
    never a flat fill, so no training image teaches the model blank wedges."""
    half = box.size / 2
    if abs(box.angle) < 0.5:
        left, top = round(box.center_x - half), round(box.center_y - half)
        square = image.convert("RGB").crop((left, top, left + box.size, top + box.size))
        return square.resize((resolution, resolution), Image.Resampling.LANCZOS)
    # The region whose rotation covers the square (half-diagonal reach), reflected where it leaves the image.
    reach = math.ceil(half * math.sqrt(2)) + 2
    left, top = round(box.center_x) - reach, round(box.center_y) - reach
    pixels = np.asarray(image.convert("RGB"))
    height, width = pixels.shape[:2]
    inside = pixels[max(top, 0) : min(top + 2 * reach, height), max(left, 0) : min(left + 2 * reach, width)]
    pad = (
        (max(-top, 0), max(top + 2 * reach - height, 0)),
        (max(-left, 0), max(left + 2 * reach - width, 0)),
        (0, 0),
    )
    region = Image.fromarray(np.pad(inside, pad, mode="symmetric"))
    center = (box.center_x - left, box.center_y - top)
    rotated = region.rotate(box.angle, resample=Image.Resampling.BICUBIC, center=center)
    corner_x, corner_y = round(center[0] - half), round(center[1] - half)
    square = rotated.crop((corner_x, corner_y, corner_x + box.size, corner_y + box.size))
    return square.resize((resolution, resolution), Image.Resampling.LANCZOS)
