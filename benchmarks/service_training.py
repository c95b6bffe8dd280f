"""Drive the training service's own loop (`training_service.trainer.train_lora`) for the benchmark.

The loop is called exactly as the service calls it, with the same prepared images the reference loop
gets and the class images supplied (so class-image generation, a once-per-instance cost the service
caches, is not counted). Per-step times come from its progress callback with `log_every=1`.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from benchmarks.reference_training import LoopSettings


def _pil(images: torch.Tensor) -> list:
    from PIL import Image

    array = ((images.permute(0, 2, 3, 1) + 1) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return [Image.fromarray(a) for a in array]


def service_step_seconds(
    pipeline_dir: Path, settings: LoopSettings, instance: torch.Tensor, klass: torch.Tensor, total_steps: int
) -> tuple[list[float], float]:
    """Seconds of each step of one `train_lora` run of `total_steps` steps (the first includes the loop's
    set-up: model loading, LoRA injection, latent encoding) and the last loss."""
    from avatar_contract.training import TrainingHyperparameters
    from training_service.trainer import train_lora

    config = TrainingHyperparameters(
        **asdict(settings),
        max_train_steps=total_steps,
        use_8bit_adam=False,
        mixed_precision="no",
    )
    marks: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as out:
        result = train_lora(
            pipeline_dir,
            _pil(instance),
            config,
            Path(out),
            device="cpu",
            class_images=_pil(klass) if settings.with_prior_preservation else None,
            log_every=1,
            on_log=lambda step, loss, elapsed: marks.append(elapsed),
        )
    durations = [b - a for a, b in zip([0.0, *marks[:-1]], marks, strict=True)]
    return durations, result.final_loss
