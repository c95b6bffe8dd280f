"""Checkpoint selection (`checkpoint_every_steps`, docs/faces.md): the trainer saves the adapter every K
steps (`Checkpoints`, its one hook in the loop); afterwards each checkpoint renders the validation
prompts, their faces are scored against the selfies' identity (training_service.likeness), and the
checkpoint with the best median identity similarity is kept. Ties go to the later checkpoint; a
checkpoint whose previews show no face never beats one with a score; when none has a face the last one
is kept, honestly reported with null medians. `checkpoint_selection: "last"` scores them all and keeps
the last.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import StableDiffusionPipeline
from diffusers.utils import convert_state_dict_to_diffusers
from peft.utils import get_peft_model_state_dict
from PIL import Image

from avatar_contract.names import Triton
from avatar_contract.training import CheckpointLikeness, TrainingHyperparameters, checkpoint_steps
from face_analysis.likeness import Likeness, score
from face_analysis.screening import Screening
from training_service.deadline import denoising_callback

logger = logging.getLogger(__name__)

Check = Callable[[int | None], None]


def save_adapter(
    output_dir: Path, unet: Any, text_encoder: Any, unet_lora: Any, text_lora: Any | None
) -> None:
    """The LoRA layers in diffusers format (`Triton.ADAPTER_FILE`), text encoder's when it trains."""
    output_dir.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(
        output_dir,
        unet_lora_layers=convert_state_dict_to_diffusers(
            get_peft_model_state_dict(unet, save_embedding_layers=False)
        ),
        text_encoder_lora_layers=(
            convert_state_dict_to_diffusers(
                get_peft_model_state_dict(text_encoder, save_embedding_layers=False)
            )
            if text_lora
            else None
        ),
        weight_name=Triton.ADAPTER_FILE,
        safe_serialization=True,
        unet_lora_adapter_metadata=unet_lora.to_dict(),
        text_encoder_lora_adapter_metadata=text_lora.to_dict() if text_lora else None,
    )


class Checkpoints:
    """Where the trainer saves the adapter at each checkpoint step before the last (the last step's
    adapter is the training's own output directory)."""

    def __init__(self, config: TrainingHyperparameters, root: Path) -> None:
        self.steps = checkpoint_steps(config)
        self.root = root

    def due(self, step: int) -> bool:
        return step in self.steps[:-1]

    def directory(self, step: int) -> Path:
        return self.root / f"step-{step:05d}"

    def adapters(self, final_dir: Path) -> dict[int, Path]:
        """Step -> adapter directory of every checkpoint, the last one being `final_dir`."""
        return {step: self.directory(step) for step in self.steps[:-1]} | {self.steps[-1]: final_dir}


@dataclass(frozen=True)
class Choice:
    step: int
    adapter_dir: Path
    previews: list[Image.Image]
    likeness: Likeness
    scored: list[CheckpointLikeness]


def select(scored: Sequence[CheckpointLikeness], rule: str = "best_identity") -> int:
    """The index of the checkpoint to keep: the best median (ties: the later one; no face never wins);
    the last one when none has a face or the rule is "last"."""
    if not scored:
        raise ValueError("no checkpoints to choose from")
    last = len(scored) - 1
    with_faces = [n for n, s in enumerate(scored) if s.identity_similarity_median is not None]
    if rule == "last" or not with_faces:
        return last
    return max(with_faces, key=lambda n: (scored[n].identity_similarity_median, n))


def choose(
    adapters: dict[int, Path],
    render: Callable[[Path], list[Image.Image]],
    score: Callable[[list[Image.Image]], Likeness],
    rule: str = "best_identity",
) -> Choice:
    """Render and score every checkpoint (in step order) and keep one (`select`)."""
    steps = sorted(adapters)
    previews: list[list[Image.Image]] = []
    likenesses: list[Likeness] = []
    scored: list[CheckpointLikeness] = []
    for step in steps:
        images = render(adapters[step])
        likeness = score(images)
        logger.info("checkpoint at step %d: likeness %s (median %s)", step, likeness.scores, likeness.median)
        previews.append(images)
        likenesses.append(likeness)
        scored.append(
            CheckpointLikeness(
                step=step, identity_similarity=likeness.scores, identity_similarity_median=likeness.median
            )
        )
    kept = select(scored, rule)
    logger.info("keeping the checkpoint at step %d of %s", steps[kept], steps)
    return Choice(steps[kept], adapters[steps[kept]], previews[kept], likenesses[kept], scored)


def render_each(
    pipe: Any,
    prompts: Sequence[str],
    resolution: int,
    seed: int = 0,
    steps: int = 30,
    check: Check | None = None,
) -> Callable[[Path], list[Image.Image]]:
    """A renderer for `choose`: one loaded pipeline (`trainer._rendering_pipeline`, on its device), each
    checkpoint's adapter loaded as hosting loads it, the previews rendered as `trainer.render_previews`
    does (same seeds), the adapter unloaded again."""

    def render(adapter_dir: Path) -> list[Image.Image]:
        pipe.load_lora_weights(adapter_dir, weight_name=Triton.ADAPTER_FILE)
        try:
            images: list[Image.Image] = []
            for n, prompt in enumerate(prompts):
                generator = torch.Generator("cpu").manual_seed(seed + n)
                out = pipe(
                    prompt, height=resolution, width=resolution, num_inference_steps=steps,
                    generator=generator, callback_on_step_end=denoising_callback(check),
                )  # fmt: skip
                images.extend(out.images)
            return images
        finally:
            pipe.unload_lora_weights()

    return render


def choose_checkpoint(
    pipeline_dir: Path | str,
    adapters: dict[int, Path],
    config: TrainingHyperparameters,
    screening: Screening | None,
    device: str,
    sample_steps: int = 30,
    check: Check | None = None,
) -> Choice:
    """Render every checkpoint's previews with one pipeline, score them against the screening's identity
    and keep one (`config.checkpoint_selection`)."""
    from training_service.trainer import _rendering_pipeline, validation_texts  # the trainer imports us

    pipe = _rendering_pipeline(pipeline_dir, device)
    pipe.to(device)
    prompts = validation_texts(config)
    render = render_each(pipe, prompts, config.resolution, config.seed, sample_steps, check)

    def likeness(images: list[Image.Image]) -> Likeness:
        if screening is None or screening.identity is None:  # the config requires face_crop: not expected
            return Likeness(scores=[None] * len(images), median=None)
        return score(images, screening.identity)

    try:
        return choose(adapters, render, likeness, config.checkpoint_selection)
    finally:
        del pipe
