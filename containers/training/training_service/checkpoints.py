"""Checkpoint selection (on by default, docs/training.md): the trainer saves the adapter every K steps
(`Checkpoints`, its one hook in the loop); afterwards each checkpoint renders every validation prompt with
two seeds, exactly as the endpoint renders them (`avatar_runtime.rendering`), and each preview is scored
against the selfies' identity (face_analysis.likeness). A preview without a face, or one that near-copies
a training crop (the screening's difference hash), is a failure and scores 0. Each checkpoint's mean and
its standard error are kept, and the **earliest** checkpoint whose mean is within one standard error of
the best mean is kept: the least overfit of those that look as much like the person. When no preview of
any checkpoint has a face the last one is kept, honestly reported with null scores.
`checkpoint_selection: "last"` scores them all and keeps the last.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diffusers.utils import convert_state_dict_to_diffusers
from peft.utils import get_peft_model_state_dict
from PIL import Image

from avatar_contract.names import Triton
from avatar_contract.training import CheckpointLikeness, TrainingHyperparameters, checkpoint_steps
from avatar_runtime.rendering import DEFAULT_STEPS, load_pipeline, pipeline_class, render_prompts
from face_analysis.likeness import Likeness, score
from face_analysis.quality import difference_hash, hash_distance
from face_analysis.screening import Screening, Thresholds
from training_service.deadline import denoising_callback
from training_service.personalization import preview_seeds, validation_texts

logger = logging.getLogger(__name__)

Check = Callable[[int | None], None]


def save_adapter(
    output_dir: Path,
    pipeline_dir: Path | str,
    unet: Any,
    unet_lora: Any,
    text_encoders: Mapping[str, Any],
    text_lora: Mapping[str, Any],
) -> None:
    """The LoRA layers in diffusers format (`Triton.ADAPTER_FILE`), saved by the base pipeline's own class
    (`save_lora_weights` of StableDiffusionPipeline, StableDiffusionXLPipeline, ...): the UNet's, and each
    trained text encoder's (those `text_lora` configures) under its subfolder name (`text_encoder`,
    `text_encoder_2`)."""
    output_dir.mkdir(parents=True, exist_ok=True)

    def layers(model: Any) -> dict[str, Any]:
        return convert_state_dict_to_diffusers(get_peft_model_state_dict(model, save_embedding_layers=False))

    text: dict[str, Any] = {}
    for name, lora in text_lora.items():
        text[f"{name}_lora_layers"] = layers(text_encoders[name])
        text[f"{name}_lora_adapter_metadata"] = lora.to_dict()
    pipeline_class(pipeline_dir).save_lora_weights(
        output_dir,
        unet_lora_layers=layers(unet),
        weight_name=Triton.ADAPTER_FILE,
        safe_serialization=True,
        unet_lora_adapter_metadata=unet_lora.to_dict(),
        **text,
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

    def adapters(self, final_dir: Path, last_step: int | None = None) -> dict[int, Path]:
        """Step -> adapter directory of every checkpoint, the last one being `final_dir` (at `last_step`
        when the training stopped early, else the planned last step)."""
        last = self.steps[-1] if last_step is None else last_step
        saved = {step: self.directory(step) for step in self.steps[:-1] if step < last}
        return saved | {last: final_dir}


@dataclass(frozen=True)
class Choice:
    step: int
    adapter_dir: Path
    previews: list[Image.Image]
    likeness: Likeness
    scored: list[CheckpointLikeness]


def near_copies(previews: Sequence[Image.Image], crops: Sequence[Image.Image], max_bits: int) -> list[bool]:
    """For each preview, whether it near-copies a training crop: difference hashes at most `max_bits` of
    256 apart (the screening's near-duplicate test)."""
    hashes = [difference_hash(crop) for crop in crops]
    return [
        any(hash_distance(difference_hash(preview), known) <= max_bits for known in hashes)
        for preview in previews
    ]


def assess(step: int, likeness: Likeness, copies: Sequence[bool] = ()) -> CheckpointLikeness:
    """One checkpoint's record: per-preview similarity (None: no face; a near copy keeps its score but
    fails), the mean with failures counted as 0, its standard error, the failures."""
    copied = list(copies) or [False] * len(likeness.scores)
    failed = [s is None or c for s, c in zip(likeness.scores, copied, strict=True)]
    values = [0.0 if f or s is None else s for s, f in zip(likeness.scores, failed, strict=True)]
    has_face = any(s is not None for s in likeness.scores)
    mean = round(statistics.fmean(values), 4) if values and has_face else None
    stderr = (
        round(statistics.stdev(values) / math.sqrt(len(values)), 4) if len(values) > 1 and has_face else None
    )
    return CheckpointLikeness(
        step=step,
        identity_similarity=likeness.scores,
        identity_similarity_median=likeness.median,
        identity_similarity_mean=mean,
        identity_similarity_stderr=stderr,
        failures=sum(failed),
    )


def select(scored: Sequence[CheckpointLikeness], rule: str = "best_identity") -> int:
    """The index of the checkpoint to keep: the earliest whose mean is within one standard error of the
    best mean (a checkpoint with no face in any preview never wins); the last one when no checkpoint has
    a face or the rule is "last"."""
    if not scored:
        raise ValueError("no checkpoints to choose from")
    last = len(scored) - 1
    if rule == "last" or all(s.identity_similarity_mean is None for s in scored):
        return last
    faces = [n for n, s in enumerate(scored) if s.identity_similarity_mean is not None]
    means = {n: scored[n].identity_similarity_mean or 0.0 for n in faces}
    best = max(faces, key=lambda n: (means[n], -n))
    floor = means[best] - (scored[best].identity_similarity_stderr or 0.0)
    return next(n for n in faces if means[n] >= floor)


def choose(
    adapters: dict[int, Path],
    render: Callable[[Path], list[Image.Image]],
    score: Callable[[list[Image.Image]], Likeness],
    rule: str = "best_identity",
    copies: Callable[[list[Image.Image]], list[bool]] | None = None,
) -> Choice:
    """Render and score every checkpoint (in step order) and keep one (`select`); `copies` flags the
    previews that near-copy a training photo."""
    steps = sorted(adapters)
    previews: list[list[Image.Image]] = []
    likenesses: list[Likeness] = []
    scored: list[CheckpointLikeness] = []
    for step in steps:
        images = render(adapters[step])
        likeness = score(images)
        record = assess(step, likeness, copies(images) if copies else ())
        logger.info(
            "checkpoint at step %d: likeness %s (mean %s ± %s, %d failures)", step, likeness.scores,
            record.identity_similarity_mean, record.identity_similarity_stderr, record.failures,
        )  # fmt: skip
        previews.append(images)
        likenesses.append(likeness)
        scored.append(record)
    kept = select(scored, rule)
    logger.info("keeping the checkpoint at step %d of %s", steps[kept], steps)
    return Choice(steps[kept], adapters[steps[kept]], previews[kept], likenesses[kept], scored)


def render_each(
    pipe: Any,
    prompts: Sequence[str],
    resolution: int,
    seeds: Sequence[int] = (0,),
    steps: int = DEFAULT_STEPS,
    check: Check | None = None,
) -> Callable[[Path], list[Image.Image]]:
    """A renderer for `choose`: one loaded pipeline (`avatar_runtime.rendering.load_pipeline`), each
    checkpoint's adapter loaded as hosting loads it, one preview per (prompt, seed) rendered as the
    endpoint renders it, the adapter unloaded again."""

    def render(adapter_dir: Path) -> list[Image.Image]:
        pipe.load_lora_weights(adapter_dir, weight_name=Triton.ADAPTER_FILE)
        try:
            return render_prompts(
                pipe, prompts, seeds, size=resolution, steps=steps, callback=denoising_callback(check)
            )
        finally:
            pipe.unload_lora_weights()

    return render


def choose_checkpoint(
    pipeline_dir: Path | str,
    adapters: dict[int, Path],
    config: TrainingHyperparameters,
    screening: Screening | None,
    device: str,
    training_crops: Sequence[Image.Image] = (),
    sample_steps: int = DEFAULT_STEPS,
    check: Check | None = None,
) -> Choice:
    """Render every checkpoint's previews with one pipeline, score them against the screening's identity,
    flag near copies of `training_crops` and keep one (`config.checkpoint_selection`)."""
    pipe = load_pipeline(pipeline_dir, device)
    seeds = preview_seeds(config, scoring=True)
    render = render_each(pipe, validation_texts(config), config.resolution, seeds, sample_steps, check)
    max_bits = Thresholds().max_duplicate_bits

    def likeness(images: list[Image.Image]) -> Likeness:
        if screening is None or screening.identity is None:  # the config requires face_crop: not expected
            return Likeness(scores=[None] * len(images), median=None)
        return score(images, screening.identity, screening.spread)

    try:
        return choose(
            adapters, render, likeness, config.checkpoint_selection,
            copies=lambda images: near_copies(images, training_crops, max_bits),
        )  # fmt: skip
    finally:
        del pipe
