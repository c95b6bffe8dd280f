"""Screening a selfie set: one verdict per image, with a reason an app can show its user when the
image is refused, the square crop around the face when it is kept, and the set's identity (the centre
the kept faces are measured against, reused to score the likeness of the previews)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from PIL import Image

from face_analysis import quality
from face_analysis.faces import CropBox, Face, Point, crop_box, find_faces

Reason = Literal[
    "unreadable",
    "no_face",
    "several_faces",
    "face_too_small",
    "blurred",
    "too_dark",
    "too_bright",
    "near_duplicate",
    "different_person",
]

# dlib's documented operating point for its ResNet embedding: two faces whose embeddings are less than
# 0.6 apart are the same person (99.38% on the LFW benchmark).
SAME_PERSON_DISTANCE = 0.6


@dataclass(frozen=True)
class Thresholds:
    min_face_side: int = 80  # px in the uploaded image
    dominance: float = 1.3  # the largest face's side must be this × the next one's, else "several faces"
    min_sharpness: float = 30.0  # variance of the Laplacian on the aligned 150 px face chip
    min_brightness: float = 40.0  # mean luma of the face chip, 0-255
    max_brightness: float = 215.0
    max_duplicate_bits: int = 12  # of 256 difference-hash bits
    same_person_distance: float = SAME_PERSON_DISTANCE
    crop_margin: float = 2.2  # crop side = this × the face's side (head and shoulders)


@dataclass
class Verdict:
    name: str
    usable: bool
    reason: Reason | None = None
    message: str = ""
    faces: int = 0
    crop: CropBox | None = None
    identity_distance: float | None = None
    face: Face | None = field(default=None, repr=False)


@dataclass
class Screening:
    verdicts: list[Verdict]
    identity: np.ndarray | None  # mean embedding of the kept faces
    spread: float | None = None  # RMS distance of the kept faces to `identity` (likeness calibration)

    @property
    def usable(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.usable]

    @property
    def refused(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.usable]


def refuse(verdict: Verdict, reason: Reason, message: str) -> None:
    verdict.usable, verdict.reason, verdict.message, verdict.crop = False, reason, message, None


def _scaled(face: Face, factor: float) -> Face:
    """The face in coordinates `factor` times larger (a working-size image's face in the full image)."""
    if factor == 1.0:
        return face
    points = tuple(Point(p.x * factor, p.y * factor) for p in face.landmarks)
    return replace(
        face, left=face.left * factor, top=face.top * factor, side=face.side * factor, landmarks=points
    )


def _check_image(
    name: str, image: Image.Image, limits: Thresholds, full_size: tuple[int, int] | None = None
) -> Verdict:
    size = full_size or image.size
    factor = size[0] / image.width
    faces = [_scaled(face, factor) for face in find_faces(image)]
    verdict = Verdict(name=name, usable=True, faces=len(faces))
    if not faces:
        refuse(verdict, "no_face", "no face found: use a photo where your face is clearly visible")
        return verdict
    face = faces[0]
    if len(faces) > 1 and face.side < limits.dominance * faces[1].side:
        refuse(verdict, "several_faces", f"{len(faces)} faces of similar size: use a photo of you alone")
        return verdict
    verdict.face = face
    if face.side < limits.min_face_side:
        refuse(
            verdict,
            "face_too_small",
            f"the face is {face.side:.0f} px wide (at least {limits.min_face_side} needed): come closer",
        )
        return verdict
    light = quality.brightness(face.chip)
    if light < limits.min_brightness:
        refuse(verdict, "too_dark", f"the face is too dark (brightness {light:.0f} of 255): find more light")
        return verdict
    if light > limits.max_brightness:
        refuse(verdict, "too_bright", f"the face is overexposed (brightness {light:.0f} of 255)")
        return verdict
    if (sharp := quality.sharpness(face.chip)) < limits.min_sharpness:
        refuse(
            verdict,
            "blurred",
            f"the face is blurred (sharpness {sharp:.0f}, {limits.min_sharpness:.0f} needed)",
        )
        return verdict
    verdict.crop = crop_box(size, face, limits.crop_margin)
    return verdict


def _mark_duplicates(digests: dict[str, np.ndarray], verdicts: list[Verdict], limits: Thresholds) -> None:
    kept: list[tuple[str, np.ndarray]] = []
    for verdict in verdicts:
        if not verdict.usable:
            continue
        digest = digests[verdict.name]
        twin = next(
            (n for n, d in kept if quality.hash_distance(d, digest) <= limits.max_duplicate_bits), None
        )
        if twin is not None:
            refuse(verdict, "near_duplicate", f"nearly the same photo as {twin}: use a different photo")
        else:
            kept.append((verdict.name, digest))


def identity_centre(embeddings: np.ndarray, same_person: float) -> int:
    """Index of the robust centre: the embedding with the most others within `same_person` (the
    largest cluster), ties broken by the smallest total distance (the medoid). A minority of other
    people cannot move it, unlike a mean."""
    distances = np.linalg.norm(embeddings[:, None, :] - embeddings[None, :, :], axis=-1)
    neighbours = (distances < same_person).sum(axis=1)
    order = np.lexsort((distances.sum(axis=1), -neighbours))
    return int(order[0])


def _mark_other_people(verdicts: list[Verdict], limits: Thresholds) -> np.ndarray | None:
    """Refuse the faces far from the set's robust centre; the kept faces' embeddings (or None)."""
    candidates = [v for v in verdicts if v.usable and v.face is not None]
    if not candidates:
        return None
    embeddings = np.stack([v.face.embedding for v in candidates if v.face is not None])
    centre = embeddings[identity_centre(embeddings, limits.same_person_distance)]
    for verdict, embedding in zip(candidates, embeddings, strict=True):
        verdict.identity_distance = float(np.linalg.norm(embedding - centre))
        if verdict.identity_distance >= limits.same_person_distance:
            refuse(
                verdict,
                "different_person",
                f"a different person from the rest of the set (distance {verdict.identity_distance:.2f}, "
                f"same person below {limits.same_person_distance})",
            )
    kept = [e for v, e in zip(candidates, embeddings, strict=True) if v.usable]
    return np.stack(kept) if kept else None


class SetScreener:
    """Screen a set one image at a time: `add` looks at an image and keeps only its verdict and its
    256-bit hash (not the image), `finish` compares them (near duplicates, other people). The image may
    be a working-size copy (`full_size`: the full image's size; faces and crops are given in it)."""

    def __init__(self, limits: Thresholds | None = None) -> None:
        self.limits = limits or Thresholds()
        self.verdicts: list[Verdict] = []
        self.digests: dict[str, np.ndarray] = {}

    def add(self, name: str, image: Image.Image, full_size: tuple[int, int] | None = None) -> None:
        self.verdicts.append(_check_image(name, image, self.limits, full_size))
        self.digests[name] = quality.difference_hash(image)

    def finish(self, unreadable: dict[str, str] | None = None) -> Screening:
        verdicts = sorted(self.verdicts, key=lambda v: v.name)
        _mark_duplicates(self.digests, verdicts, self.limits)
        kept = _mark_other_people(verdicts, self.limits)
        for name, why in (unreadable or {}).items():
            verdicts.append(Verdict(name=name, usable=False, reason="unreadable", message=why))
        verdicts.sort(key=lambda v: v.name)
        if kept is None:
            return Screening(verdicts=verdicts, identity=None)
        identity = kept.mean(axis=0)
        spread = float(np.sqrt(np.mean(np.sum((kept - identity) ** 2, axis=1))))
        return Screening(verdicts=verdicts, identity=identity, spread=spread)


def screen(
    images: dict[str, Image.Image], unreadable: dict[str, str] | None = None, limits: Thresholds | None = None
) -> Screening:
    """Screen decoded RGB images (file name -> image); `unreadable` (name -> why) are refused as such.
    Verdicts come back in file-name order."""
    screener = SetScreener(limits)
    for name in sorted(images):
        screener.add(name, images[name])
    return screener.finish(unreadable)


def summary(screening: Screening, min_usable: int) -> str | None:
    """Why the set cannot train (every refused image and its reason), or None when enough remain."""
    if len(screening.usable) >= min_usable:
        return None
    detail = "; ".join(f"{v.name}: {v.reason} ({v.message})" for v in screening.refused)
    return f"{len(screening.usable)} usable image(s), at least {min_usable} needed" + (
        f"; not used: {detail}" if detail else ""
    )
