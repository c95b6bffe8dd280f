"""Likeness: how close each rendered image's face is to the selfies' identity (their mean embedding).
The similarity is 1 − the embedding distance to that centroid. An image without a face scores None:
never a match.

**Threshold calibration** (docs/faces.md#likeness). dlib's same-person operating point is a *pairwise*
distance below 0.6. Measured from the centroid of a selfie set, every face is closer than it is to the
selfies themselves: for any x, the mean squared distance to the selfies is ‖x − c‖² + r², where c is
their centroid and r their RMS spread around it. So "within 0.6 of the selfies (RMS)" is
‖x − c‖ < √(0.6² − r²), the threshold used here: 1 − √(0.36 − r²). The fixed 0.4 (0.6 applied to the
centroid) is this threshold for r = 0 only: with real selfies (r ≈ 0.1 for the augmented public-domain
portraits the tests use, larger for varied photos) it let a lookalike at pairwise 0.65 pass."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np
from PIL import Image

from face_analysis.faces import find_faces
from face_analysis.screening import SAME_PERSON_DISTANCE

SAME_PERSON_SIMILARITY = round(1 - SAME_PERSON_DISTANCE, 6)  # the uncalibrated centroid threshold


def calibrated_threshold(spread: float | None) -> float:
    """The centroid similarity equivalent to dlib's pairwise 0.6 for a set of RMS `spread` around its
    centroid (see the module docstring); the uncalibrated 0.4 when the spread is unknown."""
    if spread is None:
        return SAME_PERSON_SIMILARITY
    return round(1 - math.sqrt(max(SAME_PERSON_DISTANCE**2 - spread**2, 0.0)), 4)


@dataclass(frozen=True)
class Likeness:
    scores: list[float | None]  # per image; None: no face found
    median: float | None  # of the images with a face; None when none has one
    threshold: float = SAME_PERSON_SIMILARITY


def similarity(embedding: np.ndarray, identity: np.ndarray) -> float:
    return round(1.0 - float(np.linalg.norm(embedding - identity)), 4)


def score(images: list[Image.Image], identity: np.ndarray, spread: float | None = None) -> Likeness:
    """Each image's largest face against `identity` (the screening's mean embedding of the selfies);
    the threshold calibrated for the selfies' `spread` (the screening's)."""
    scores: list[float | None] = []
    for image in images:
        faces = find_faces(image.convert("RGB"))
        scores.append(similarity(faces[0].embedding, identity) if faces else None)
    found = [s for s in scores if s is not None]
    median = round(statistics.median(found), 4) if found else None
    return Likeness(scores=scores, median=median, threshold=calibrated_threshold(spread))
