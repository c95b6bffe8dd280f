"""Scoring the previews against the selfies' identity (face_analysis.likeness) and the optional
`min_identity_similarity` gate."""

from __future__ import annotations

import logging

from PIL import Image

from face_analysis.likeness import Likeness, score
from face_analysis.screening import Screening
from training_service.errors import TrainingError

logger = logging.getLogger(__name__)


class NotLikeTheSelfies(TrainingError, status=422):
    """The previews' median likeness is below `min_identity_similarity`."""


def score_previews(
    previews: list[Image.Image], screening: Screening | None, minimum: float | None
) -> Likeness | None:
    """The previews' likeness (None without a face screening); raise NotLikeTheSelfies below `minimum`."""
    if screening is None or screening.identity is None:
        return None
    likeness = score(previews, screening.identity, screening.spread)
    logger.info("preview likeness %s (median %s)", likeness.scores, likeness.median)
    return require_likeness(likeness, minimum)


def require_likeness(likeness: Likeness, minimum: float | None) -> Likeness:
    """`likeness`, or NotLikeTheSelfies when its median is below `minimum` (or no preview has a face)."""
    if minimum is not None and (likeness.median is None or likeness.median < minimum):
        raise NotLikeTheSelfies(
            f"the previews do not look like the selfies: median identity similarity {likeness.median} "
            f"(per preview {likeness.scores}; null: no face), at least {minimum} required"
        )
    return likeness
