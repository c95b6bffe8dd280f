"""What the training loop minimises, beyond the plain noise-prediction MSE: Min-SNR weighting, the optional
face-weighted loss, and `final_loss`, the figure reported for a run (docs/training.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.training_utils import compute_snr

# `final_loss` is the mean of the last steps' losses: one step's loss swings ~10× with its timestep.
FINAL_LOSS_WINDOW = 50


def final_loss(losses: Sequence[float]) -> float:
    """The mean of the last FINAL_LOSS_WINDOW steps' losses (NaN for none)."""
    tail = list(losses[-FINAL_LOSS_WINDOW:])
    return sum(tail) / len(tail) if tail else math.nan


def face_masks(
    boxes: Sequence[tuple[float, float, float] | None] | None,
    size: torch.Size,
    weight: float | None,
    count: int,
    device: str,
) -> list[torch.Tensor | None]:
    """Per training image: a latent-sized loss weight map, `weight` inside its face box and 1 outside,
    scaled to mean 1 (so the loss keeps its size); None without a box or without `weight`."""
    if weight is None or boxes is None:
        return [None] * count
    height, width = int(size[0]), int(size[1])
    masks: list[torch.Tensor | None] = []
    for box in boxes:
        if box is None:
            masks.append(None)
            continue
        cx, cy, side = box
        mask = torch.ones(1, 1, height, width)
        top, bottom = max(0, round((cy - side / 2) * height)), min(height, round((cy + side / 2) * height))
        left, right = max(0, round((cx - side / 2) * width)), min(width, round((cx + side / 2) * width))
        mask[..., top:bottom, left:right] = weight
        masks.append((mask / mask.mean()).to(device))
    return masks


def instance_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    timesteps: torch.Tensor,
    scheduler: Any,
    gamma: float | None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """MSE (weighted by `mask`, the face weights, when given), weighted per sample by min(SNR, γ)/SNR
    (ε-prediction) or min(SNR, γ)/(SNR + 1) (v-prediction) with `gamma` set: the Min-SNR weighting of
    Hang et al. (2023), as diffusers' DreamBooth script applies it (`--snr_gamma`, suggested 5.0) to the
    instance loss."""
    if gamma is None and mask is None:
        return F.mse_loss(pred, target)
    squared = F.mse_loss(pred, target, reduction="none")
    if mask is not None:
        squared = squared * mask
    per_sample = squared.mean(dim=list(range(1, pred.ndim)))
    if gamma is None:
        return per_sample.mean()
    snr = compute_snr(scheduler, timesteps)
    weights = torch.clamp(snr, max=gamma) / snr
    if scheduler.config.prediction_type == "v_prediction":
        weights = torch.clamp(snr, max=gamma) / (snr + 1)
    return (per_sample * weights.to(per_sample.device)).mean()
