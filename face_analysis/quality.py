"""Image measures the screening thresholds apply to: sharpness, exposure, and a difference hash for
near-duplicates. Plain numpy on purpose: the trainings function carries no OpenCV or scikit-image."""

from __future__ import annotations

import numpy as np
from PIL import Image

HASH_SIDE = 16  # bits per row and rows of the difference hash (256 bits)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma, 0-255, as float."""
    pixels = rgb.astype(np.float64)
    return 0.299 * pixels[..., 0] + 0.587 * pixels[..., 1] + 0.114 * pixels[..., 2]


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of the luma (low: blurred)."""
    y = luminance(rgb)
    laplacian = y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:] - 4 * y[1:-1, 1:-1]
    return float(laplacian.var())


def brightness(rgb: np.ndarray) -> float:
    """Mean luma, 0-255."""
    return float(luminance(rgb).mean())


def difference_hash(image: Image.Image) -> np.ndarray:
    """256-bit gradient-sign hash of the whole image: equal for re-encoded, resized or re-lit copies,
    different once the framing, the pose or the mirror side changes."""
    small = np.asarray(image.convert("L").resize((HASH_SIDE + 1, HASH_SIDE), Image.Resampling.LANCZOS))
    return (small[:, 1:].astype(np.int16) > small[:, :-1].astype(np.int16)).ravel()


def hash_distance(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.count_nonzero(a != b))
