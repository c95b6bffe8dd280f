"""How long a training may run, and how long one is expected to run (standard library only).

**The budget.** SageMaker gives an asynchronous invocation `InvocationTimeoutSeconds` (3600 s,
`Runtime.ASYNC_INVOCATION_TIMEOUT_SECONDS`); a training must end, answer and publish before that. The
training container stops at `TRAINING_TIME_BUDGET_SECONDS` (3600 − 300 s margin for publishing, the
answer and SageMaker's own overhead), or at `TIME_BUDGET_ENV` when the CDK app sets it, and fails with
"training exceeded its time budget (N of M steps)". The API refuses, before anything is queued, a
configuration whose estimate (below) exceeds the budget, so a user learns it at once, not after an hour.

**The cost model** (`estimate`), per instance type and base family (`avatar_contract.families`: its
`TimeBudget` holds the A10G constants at its native resolution `n`), for the training service's loop
(bf16/fp16, batch 1)::

    seconds = fixed
            + steps × step_n × area(resolution) × (PRIOR_FACTOR if prior) × (te_factor if text encoder)
            + class images × image_n × area(resolution) × sample_steps / 30   (prior preservation only)
            + validation prompts × image_n × area(resolution) × sample_steps / 30
            + (checkpoints − 1) × (validation prompts × image + CHECKPOINT_SECONDS)   (selection only)

    area(r) = p × (1 − a + a × p),  p = (r / n)²,  a = the family's attention share

`area` is the pixel count relative to the native resolution's, plus the self-attention part that grows
with its square. Class images are counted as generated (a fresh instance has none cached), which is the
worst case. With checkpoint selection (`checkpoint_every_steps`) every checkpoint but the last renders its
own previews too, and is saved, loaded into the rendering pipeline and its faces scored
(`CHECKPOINT_SECONDS`).

**Calibration** (docs/limits-training.md has the derivation): no GPU has run `make bench-gpu` for this
repository yet. sd21-base's A10G constants come from the figures docs/performance.md and benchmarks/cost.md
already use — the reference sample's 1500 s for 1000 steps at 512 px with prior preservation (50 class
images) and text-encoder training on ml.g5.xlarge (A10G), 2.5 s per 30-step 512 px image on an A10G, and
the measured speed-up of our loop over the reference's (1.071, full-size 512 px on CPU) — and the CPU
measurement of the full-size architecture sets nothing but a sanity check (256 → 512 px: 3.5× the time
for 4× the pixels, where `area` gives 4.4×: the model errs long). sdxl-base-1.0's are estimates scaled
from them (avatar_contract.families). Other GPUs are scaled from the A10G by an estimated relative
throughput. When `make bench-gpu` runs, replace the families' constants by its figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from avatar_contract.families import (  # noqa: F401 - re-exported: the calibration's figures
    DEFAULT_FAMILY,
    LOOP_SPEEDUP,
    PRIOR_FACTOR,
    REFERENCE_SECONDS,
    FamilyName,
    family,
)
from avatar_contract.names import Runtime

TIME_BUDGET_ENV: Final = "AVATAR_TRAINING_TIME_BUDGET_SECONDS"
# Checkpoint selection (on by default, docs/training.md): a checkpoint every 200 steps, at most
# MAX_CHECKPOINTS (avatar_contract.training) in all, each scored on prompts × SCORING_SEEDS previews.
DEFAULT_CHECKPOINT_EVERY: Final = 200
MAX_CHECKPOINTS: Final = 10
SCORING_SEEDS: Final = 2
TRAINING_TIME_MARGIN_SECONDS: Final = 300
TRAINING_TIME_BUDGET_SECONDS: Final = Runtime.ASYNC_INVOCATION_TIMEOUT_SECONDS - TRAINING_TIME_MARGIN_SECONDS

SAMPLE_STEPS_REFERENCE: Final = 30  # the families' image figures' steps (the service renders 25)
# Per extra checkpoint: save the adapter (37 MiB), load it into the rendering pipeline, score the faces
# of its previews on the CPU (dlib, about 0.2 s each at 512 px): an estimate, not measured on a GPU.
CHECKPOINT_SECONDS: Final = 5.0


@dataclass(frozen=True)
class InstanceCost:
    """Per-GPU constants of the cost model for one family, at its native resolution."""

    gpu: str
    step_seconds: float  # one training step: UNet LoRA, no prior, no text encoder
    image_seconds: float  # one 30-step image (class images, previews)
    native_resolution: int
    attention_share: float
    text_encoder_factor: float
    fixed_seconds: float
    source: str = "estimate"


A10G_GPU: Final = "A10G"
# Estimated throughput relative to the A10G for diffusion training in bf16/fp16 (public spec sheets:
# tensor FLOPS and memory bandwidth); not measured here.
RELATIVE_THROUGHPUT: Final = {
    "T4": 0.35,
    "L4": 0.8,
    "V100": 0.9,
    "A10G": 1.0,
    "L40S": 2.0,
    "A100": 2.5,
    "H100": 4.0,
}
# Instance family -> the GPU one training uses (one process, one device, whatever the instance size).
FAMILY_GPU: Final = {
    "ml.g4dn": "T4",
    "ml.g5": "A10G",
    "ml.g6": "L4",
    "ml.g6e": "L40S",
    "ml.p3": "V100",
    "ml.p4d": "A100",
    "ml.p4de": "A100",
    "ml.p5": "H100",
}


def instance_cost(instance_type: str, base_family: FamilyName | str = DEFAULT_FAMILY) -> InstanceCost:
    """The cost constants for a SageMaker instance type and base family (ValueError for an instance type
    without a known GPU)."""
    gpu = FAMILY_GPU.get(instance_type.rsplit(".", 1)[0])
    if gpu is None:
        raise ValueError(f"no training cost model for instance type {instance_type!r}")
    chosen = family(base_family)
    budget = chosen.time_budget
    speed = RELATIVE_THROUGHPUT[gpu]
    return InstanceCost(
        gpu=gpu,
        step_seconds=budget.step_seconds / speed,
        image_seconds=budget.image_seconds / speed,
        native_resolution=chosen.native_resolution,
        attention_share=budget.attention_share,
        text_encoder_factor=budget.text_encoder_factor,
        fixed_seconds=budget.fixed_seconds,
        source=budget.source
        if gpu == A10G_GPU
        else f"estimate: A10G figures ÷ {speed} (relative throughput)",
    )


A10G: Final = instance_cost("ml.g5.xlarge")  # the default family's A10G constants


def render_seconds(
    step_seconds: float,
    sample_steps: int,
    prior: bool = True,
    text_encoder: bool = True,
    base_family: FamilyName | str = DEFAULT_FAMILY,
) -> float:
    """One preview's rendering time estimated from a measured training step (the same resolution): the
    cost model's ratio of a `sample_steps`-step image to a training step of the family on the A10G."""
    cost = instance_cost("ml.g5.xlarge", base_family)
    step = (
        cost.step_seconds * (PRIOR_FACTOR if prior else 1) * (cost.text_encoder_factor if text_encoder else 1)
    )
    image = cost.image_seconds * sample_steps / SAMPLE_STEPS_REFERENCE
    return step_seconds * image / step


def area(resolution: int, base_family: FamilyName | str = DEFAULT_FAMILY) -> float:
    """Work of one UNet pass at `resolution` relative to the family's native resolution."""
    chosen = family(base_family)
    pixels = (resolution / chosen.native_resolution) ** 2
    share = chosen.time_budget.attention_share
    return pixels * (1 - share + share * pixels)


@dataclass(frozen=True)
class TrainingEstimate:
    instance_type: str
    fixed: float
    training: float
    class_images: float
    previews: float
    checkpoints: float = 0.0  # the extra checkpoints' previews, saving and scoring

    @property
    def total(self) -> float:
        return self.fixed + self.training + self.class_images + self.previews + self.checkpoints


_FIELDS: Final = (
    "max_train_steps",
    "resolution",
    "train_text_encoder",
    "with_prior_preservation",
    "num_class_images",
    "validation_prompts",
)


def _values(hyperparameters: Mapping[str, object] | object) -> dict[str, object]:
    get = hyperparameters.get if isinstance(hyperparameters, Mapping) else None
    values: dict[str, object] = {}
    for name in _FIELDS:
        value = get(name) if get else getattr(hyperparameters, name, None)
        if value is None:
            raise ValueError(f"the training estimate needs {name!r}")
        values[name] = value
    every = get("checkpoint_every_steps") if get else getattr(hyperparameters, "checkpoint_every_steps", 0)
    face_crop = get("face_crop", True) if get else getattr(hyperparameters, "face_crop", True)
    steps = int(values["max_train_steps"])  # type: ignore[call-overload]
    values["checkpoint_every_steps"] = checkpoint_interval(steps, every, bool(face_crop))  # type: ignore[arg-type]
    return values


def checkpoint_interval(steps: int, every: int | None, face_crop: bool = True) -> int:
    """The steps between checkpoints: `every` as set (0: selection off); None (the default) means every
    DEFAULT_CHECKPOINT_EVERY steps, spread wider for long runs so that at most MAX_CHECKPOINTS are
    taken, and off without face_crop (checkpoints are scored against the screened selfies)."""
    if every is not None:
        return every
    if not face_crop:
        return 0
    return max(DEFAULT_CHECKPOINT_EVERY, -(-steps // MAX_CHECKPOINTS))


def _extra_checkpoints(steps: int, every: int) -> int:
    """Checkpoints besides the last one (every K steps before the last step)."""
    return len(range(every, steps, every)) if every > 0 else 0


def estimate(
    hyperparameters: Mapping[str, object] | object,
    instance_type: str,
    sample_steps: int = SAMPLE_STEPS_REFERENCE,
    base_family: FamilyName | str = DEFAULT_FAMILY,
) -> TrainingEstimate:
    """The cost model's parts for one training: `hyperparameters` is a `TrainingHyperparameters` (or its
    `model_dump()`); `sample_steps` the service's denoising steps for class images and previews."""
    values = _values(hyperparameters)
    cost = instance_cost(instance_type, base_family)
    scale = area(int(values["resolution"]), base_family)  # type: ignore[call-overload]
    step = cost.step_seconds * scale
    if values["with_prior_preservation"]:
        step *= PRIOR_FACTOR
    if values["train_text_encoder"]:
        step *= cost.text_encoder_factor
    image = cost.image_seconds * scale * sample_steps / SAMPLE_STEPS_REFERENCE
    classes = int(values["num_class_images"]) if values["with_prior_preservation"] else 0  # type: ignore[call-overload]
    steps = int(values["max_train_steps"])  # type: ignore[call-overload]
    every = int(values["checkpoint_every_steps"])  # type: ignore[call-overload]
    # With selection every checkpoint renders each prompt with SCORING_SEEDS seeds; without, one each.
    prompts = len(values["validation_prompts"]) * (SCORING_SEEDS if every else 1)  # type: ignore[arg-type]
    extra = _extra_checkpoints(steps, every)
    return TrainingEstimate(
        instance_type=instance_type,
        fixed=cost.fixed_seconds,
        training=steps * step,
        class_images=classes * image,
        previews=prompts * image,
        checkpoints=extra * (prompts * image + CHECKPOINT_SECONDS),
    )


def over_budget_reason(
    hyperparameters: Mapping[str, object] | object,
    instance_type: str,
    budget_seconds: float = TRAINING_TIME_BUDGET_SECONDS,
    sample_steps: int = SAMPLE_STEPS_REFERENCE,
    base_family: FamilyName | str = DEFAULT_FAMILY,
) -> str | None:
    """None when the training fits `budget_seconds`; otherwise why not, with the estimate."""
    parts = estimate(hyperparameters, instance_type, sample_steps, base_family)
    if parts.total <= budget_seconds:
        return None
    return (
        f"the training is estimated at {parts.total:.0f} s on {instance_type} "
        f"({parts.training:.0f} s of steps, {parts.class_images:.0f} s of class images, "
        f"{parts.previews + parts.fixed:.0f} s of previews and loading"
        + (f", {parts.checkpoints:.0f} s of checkpoint previews" if parts.checkpoints else "")
        + f"); the limit is {budget_seconds:.0f} s: use fewer steps, a lower resolution or fewer class images"
        + (" or checkpoints" if parts.checkpoints else "")
    )
