"""Likeness: how close each rendered image's face is to the selfies' identity. The similarity is
1 − the embedding distance to the identity, so dlib's same-person operating point (distance < 0.6)
is a similarity above 0.4. An image without a face scores None: never a match."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np
from PIL import Image

from face_analysis.faces import find_faces
from face_analysis.screening import SAME_PERSON_DISTANCE

SAME_PERSON_SIMILARITY = round(1 - SAME_PERSON_DISTANCE, 6)


@dataclass(frozen=True)
class Likeness:
    scores: list[float | None]  # per image; None: no face found
    median: float | None  # of the images with a face; None when none has one
    threshold: float = SAME_PERSON_SIMILARITY


def similarity(embedding: np.ndarray, identity: np.ndarray) -> float:
    return round(1.0 - float(np.linalg.norm(embedding - identity)), 4)


def score(images: list[Image.Image], identity: np.ndarray) -> Likeness:
    """Each image's largest face against `identity` (the screening's mean embedding of the selfies)."""
    scores: list[float | None] = []
    for image in images:
        faces = find_faces(image.convert("RGB"))
        scores.append(similarity(faces[0].embedding, identity) if faces else None)
    found = [s for s in scores if s is not None]
    return Likeness(scores=scores, median=round(statistics.median(found), 4) if found else None)
