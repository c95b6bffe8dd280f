"""The training's face screening (face_analysis): keep only the images that pass, crop each to the
square around its aligned face, and keep the set's identity to score the previews against."""

from __future__ import annotations

import logging

from PIL import Image

from face_analysis.faces import apply_crop
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
