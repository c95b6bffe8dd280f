"""`make bench-gpu SELFIES=dir BASE_MODEL=dir`: the likeness part of the GPU benchmark, per checkpoint.

Random weights render no faces, so this part needs the real base model (a local copy of SD 2.1-base, e.g.
the staged one) and a folder of selfies of one consenting person. It runs the training service's own
path with the default `TrainingHyperparameters()`: image preparation (screening, tight and looser crops,
weights), class images through the shared renderer, the training loop with its checkpoints, and the
checkpoint scoring (`choose_checkpoint`: every validation prompt × 2 seeds, faceless and near-copy
previews failing). It reports, per checkpoint step, the mean likeness, its standard error, the failures
and the step kept, plus the seconds of each phase: the figures that settle `max_train_steps`,
`checkpoint_every_steps`, the learning rates and the likeness threshold on a GPU.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, Result, Stats

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def read_selfies(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def bench_likeness(
    result: Result,
    base: Path,
    selfies: Path,
    device: str,
    overrides: dict[str, Any] | None = None,
    sample_steps: int | None = None,
) -> None:
    """Train the default configuration (with `overrides`, e.g. fewer steps for a toy run) on `selfies`
    and add one figure per checkpoint to `result`."""
    from avatar_contract.training import TrainingHyperparameters
    from avatar_runtime.rendering import DEFAULT_STEPS
    from training_service.checkpoints import Checkpoints, choose_checkpoint
    from training_service.images import prepare_images
    from training_service.trainer import generate_class_images, train_lora

    config = TrainingHyperparameters(**(overrides or {}))
    steps = sample_steps or DEFAULT_STEPS
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    prepared = prepare_images(read_selfies(selfies), config.resolution, True, config.min_usable_images, 10**8)
    seconds["image preparation"] = time.perf_counter() - started
    images, weights = prepared.training_set()
    started = time.perf_counter()
    class_images = generate_class_images(
        base, config.class_prompt, config.num_class_images, config.resolution, device, steps=steps
    )
    seconds["class images"] = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="bench-likeness-") as work:
        plan = Checkpoints(config, Path(work) / "checkpoints")
        started = time.perf_counter()
        trained = train_lora(
            base, images, config, Path(work) / "adapter", device, class_images=class_images,
            sample_steps=steps, checkpoints=plan, image_weights=weights,
        )  # fmt: skip
        seconds["training"] = time.perf_counter() - started
        started = time.perf_counter()
        choice = choose_checkpoint(
            base, plan.adapters(Path(work) / "adapter", trained.steps), config, prepared.screening, device,
            images, steps,
        )  # fmt: skip
        seconds["checkpoint scoring"] = time.perf_counter() - started

    case = f"{config.resolution}px, {len(prepared.usable)} selfies (+{len(prepared.wide)} looser crops)"
    threshold = choice.likeness.threshold
    for scored in choice.scored:
        values = [0.0 if s is None else s for s in scored.identity_similarity]
        kept = " (kept)" if scored.step == choice.step else ""
        result.add(
            Figure(
                case,
                f"likeness at step {scored.step}{kept}",
                "similarity",
                Stats(values) if values else None,
                note=f"mean {scored.identity_similarity_mean} ± {scored.identity_similarity_stderr}, "
                f"{scored.failures} failures of {len(values)}; same person above {threshold}",
            )
        )
    for phase, value in seconds.items():
        result.add(Figure(case, f"{phase} time", "s", Stats([value])))
    result.settings["likeness"] = {
        "config": config.model_dump(),
        "kept_step": choice.step,
        "threshold": threshold,
        "final_loss": trained.final_loss,
        "checkpoints": [c.model_dump() for c in choice.scored],
    }
