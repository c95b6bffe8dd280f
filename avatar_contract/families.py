"""Base families: everything that differs between base models, defined once (docs/base-model.md).

A deployment serves one family (`cdk.json` `baseModel`, passed to the functions and containers as
`AVATAR_BASE_FAMILY`): it names the manifest staged for both endpoints, the diffusers pipeline classes,
the native resolution, the text encoders, the LoRA targets, the training and generation defaults and
bounds, the time-budget constants and the default instance types. Code outside this module reads these
values; nothing else names SD 2.1, SDXL or a fixed 512 px. Standard library and pydantic only (the
Lambda functions import it; diffusers and torch never load here).

Every model records the family it was trained on (`metadata.json` and the API's model record,
`FAMILY_KEY`); a model recorded without one predates families and is `LEGACY_FAMILY` (sd21-base).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from avatar_contract.lora import TEXT_ENCODER_TARGET_MODULES, UNET_TARGET_MODULES
from avatar_contract.names import Env
from avatar_contract.prompts import personalize


class FamilyName(StrEnum):
    SD21_BASE = "sd21-base"
    SDXL_BASE_1_0 = "sdxl-base-1.0"


DEFAULT_FAMILY: Final = FamilyName.SD21_BASE
LEGACY_FAMILY: Final = FamilyName.SD21_BASE  # what a model recorded without a family was trained on
FAMILY_KEY: Final = "base_family"  # in metadata.json, the training config and the model record
# S3 user metadata (x-amz-meta-base-family) of a published model archive: its model's base family, so the
# API refuses a model of another family from the HeadObject it makes anyway.
ARTIFACT_FAMILY_METADATA: Final = "base-family"
MANIFEST_DIR: Final = "base_models"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IntRange(_Frozen):
    default: int
    minimum: int
    maximum: int


class FloatRange(_Frozen):
    default: float
    maximum: float  # the minimum is exclusive 0 (a rate)


class TrainingDefaults(_Frozen):
    """The training hyper-parameters whose defaults and bounds depend on the family
    (`avatar_contract.training.hyperparameters_model` builds the family's schema from them)."""

    max_train_steps: IntRange
    learning_rate: FloatRange  # the UNet's
    text_encoder_learning_rate: FloatRange
    lora_rank: IntRange
    text_encoder_lora_rank: IntRange
    resolution: IntRange  # a multiple of 8
    train_text_encoder: bool
    with_prior_preservation: bool
    num_class_images: IntRange
    gradient_checkpointing: bool | None  # None: the trainer decides from the GPU's memory
    use_8bit_adam: bool
    mixed_precision: Literal["auto", "no", "fp16", "bf16"]
    # Trainer policy (not a client setting): encode the training images with the VAE once, and the
    # prompts with the frozen text encoders once (only when the text encoders are not trained), so those
    # modules leave the GPU during the loop.
    precompute_latents: bool
    precompute_text_embeddings: bool


class TimeBudget(_Frozen):
    """The training cost model's per-family constants on the A10G (`avatar_contract.training_budget`;
    other GPUs are scaled by their relative throughput)."""

    step_seconds: float  # one step at the native resolution: UNet LoRA, batch 1, no prior, no text encoder
    image_seconds: float  # one 30-step image at the native resolution, fp16 (class images, previews)
    fixed_seconds: float  # loading the pipelines, latents, packaging, upload
    attention_share: float  # share of a native-resolution UNet pass in self-attention (grows quadratically)
    text_encoder_factor: float  # a step with the text encoders' LoRA trained, relative to one without
    source: str


class GenerationDefaults(_Frozen):
    """Bounds of `gen_args` for this family (`avatar_contract.generation.check_family_bounds`)."""

    min_side: int
    max_side: int
    steps: IntRange
    guidance_scale: float
    hires_max_side: int  # the largest side a hires pass may produce (memory of one img2img batch, 24 GB)
    # Denoising throughput relative to sd21-base on the same GPU, in pixel-steps per second (the API's
    # cost bounds scale its per-instance table by this).
    relative_throughput: float


class BaseFamily(_Frozen):
    name: FamilyName
    title: str
    license: str
    text2img_pipeline: str  # diffusers class names (imported by the containers only)
    img2img_pipeline: str
    native_resolution: int
    text_encoders: tuple[str, ...]  # subfolders, in the pipeline's order
    tokenizers: tuple[str, ...]
    vae_subfolder: str
    micro_conditioning: bool  # SDXL's added time ids (original size, crop coordinates, target size)
    unet_lora_targets: tuple[str, ...]
    text_encoder_lora_targets: Mapping[str, tuple[str, ...]]  # per text encoder subfolder
    training: TrainingDefaults
    time_budget: TimeBudget
    generation: GenerationDefaults
    training_instance_type: str
    hosting_instance_type: str

    @property
    def manifest_path(self) -> str:
        """The committed manifest staged for this family, relative to the repository root."""
        return f"{MANIFEST_DIR}/{self.name}.json"

    @property
    def text_encoder_count(self) -> int:
        return len(self.text_encoders)

    @property
    def face_crop_size(self) -> int:
        """The side a face crop is worked at (the face-detail pass; training crops are `resolution`)."""
        return self.native_resolution

    def render_prompt(self, template: str, metadata: Mapping[str, Any]) -> str:
        """`template` with `<<TOK>>` rendered as the model's token and class noun (the same words go to
        every text encoder)."""
        return personalize(template, metadata)


# Prior preservation trains on an instance and a class image per step: the UNet's batch doubles (a little
# less than 2× on a GPU that batch 1 does not fill). The same for every family.
PRIOR_FACTOR: Final = 1.9
# SD 2.1-base's calibration (docs/limits-training.md): the reference sample's own run on ml.g5.xlarge (A10G).
REFERENCE_SECONDS: Final = 1500.0  # 1000 steps, 512 px, prior (50 class images), text encoder
REFERENCE_STEPS: Final = 1000
REFERENCE_CLASS_IMAGES: Final = 50
REFERENCE_CLASS_IMAGE_STEPS: Final = 50  # diffusers' default num_inference_steps, which the sample used
SD21_A10G_IMAGE_SECONDS: Final = 2.5  # 30 steps at 512 px, fp16 (benchmarks/cost.py's generation figure)
LOOP_SPEEDUP: Final = 1.071  # reference loop ÷ our loop, measured (docs/performance.md, full-size 512 px)
SD21_FIXED_SECONDS: Final = 60.0  # three pipeline loads from local disk, VAE latents, packaging, upload
SD21_TE_FACTOR: Final = 1.1  # the text encoder's LoRA: its forward and backward (~5% of the UNet's FLOPs)


def _calibrated_sd21_a10g() -> TimeBudget:
    """SD 2.1-base on the A10G: the reference's step (its 1500 s less loading and class images) ÷ our
    loop's speed-up, without prior preservation and text encoder."""
    class_seconds = REFERENCE_CLASS_IMAGES * SD21_A10G_IMAGE_SECONDS * REFERENCE_CLASS_IMAGE_STEPS / 30
    reference_step = (REFERENCE_SECONDS - SD21_FIXED_SECONDS - class_seconds) / REFERENCE_STEPS
    return TimeBudget(
        step_seconds=reference_step / LOOP_SPEEDUP / (PRIOR_FACTOR * SD21_TE_FACTOR),
        image_seconds=SD21_A10G_IMAGE_SECONDS,
        fixed_seconds=SD21_FIXED_SECONDS,
        attention_share=0.12,  # FLOP count of SD 2.x's UNet at 64×64 latents
        text_encoder_factor=SD21_TE_FACTOR,
        source="calibrated: reference sample 1500 s / 1000 steps on ml.g5.xlarge, loop speed-up measured",
    )


_SAMPLING = IntRange(default=25, minimum=1, maximum=100)  # avatar_runtime.rendering.DEFAULT_STEPS

SD21_BASE: Final = BaseFamily(
    name=FamilyName.SD21_BASE,
    title="Stable Diffusion 2.1-base",
    license="CreativeML Open RAIL++-M",
    text2img_pipeline="StableDiffusionPipeline",
    img2img_pipeline="StableDiffusionImg2ImgPipeline",
    native_resolution=512,
    text_encoders=("text_encoder",),
    tokenizers=("tokenizer",),
    vae_subfolder="vae",
    micro_conditioning=False,
    unet_lora_targets=UNET_TARGET_MODULES,
    text_encoder_lora_targets={"text_encoder": TEXT_ENCODER_TARGET_MODULES},
    training=TrainingDefaults(
        max_train_steps=IntRange(default=1000, minimum=1, maximum=3000),
        learning_rate=FloatRange(default=1e-4, maximum=1e-2),
        text_encoder_learning_rate=FloatRange(default=1e-5, maximum=1e-2),
        lora_rank=IntRange(default=32, minimum=1, maximum=256),
        text_encoder_lora_rank=IntRange(default=16, minimum=1, maximum=256),
        resolution=IntRange(default=512, minimum=64, maximum=1024),
        train_text_encoder=True,
        with_prior_preservation=True,
        num_class_images=IntRange(default=200, minimum=1, maximum=300),
        gradient_checkpointing=None,
        use_8bit_adam=False,
        mixed_precision="auto",
        precompute_latents=False,
        precompute_text_embeddings=False,
    ),
    time_budget=_calibrated_sd21_a10g(),
    generation=GenerationDefaults(
        min_side=64,
        max_side=1024,
        steps=_SAMPLING,
        guidance_scale=7.5,
        hires_max_side=1536,
        relative_throughput=1.0,
    ),
    training_instance_type="ml.g5.2xlarge",
    hosting_instance_type="ml.g5.xlarge",
)

SDXL_BASE_1_0: Final = BaseFamily(
    name=FamilyName.SDXL_BASE_1_0,
    title="Stable Diffusion XL 1.0 base (fp16-fix VAE)",
    license="CreativeML Open RAIL++-M (VAE: MIT)",
    text2img_pipeline="StableDiffusionXLPipeline",
    img2img_pipeline="StableDiffusionXLImg2ImgPipeline",
    native_resolution=1024,
    text_encoders=("text_encoder", "text_encoder_2"),
    tokenizers=("tokenizer", "tokenizer_2"),
    vae_subfolder="vae",  # staged from madebyollin/sdxl-vae-fp16-fix (the manifest's "vae" source)
    micro_conditioning=True,
    unet_lora_targets=UNET_TARGET_MODULES,  # diffusers' train_dreambooth_lora_sdxl.py
    text_encoder_lora_targets={
        "text_encoder": TEXT_ENCODER_TARGET_MODULES,
        "text_encoder_2": TEXT_ENCODER_TARGET_MODULES,
    },
    # Face-oriented defaults within the A10G's 24 GB and the one-hour budget (docs/training.md "SDXL").
    training=TrainingDefaults(
        max_train_steps=IntRange(default=800, minimum=1, maximum=3000),
        learning_rate=FloatRange(default=1e-4, maximum=1e-2),
        text_encoder_learning_rate=FloatRange(default=5e-6, maximum=1e-2),
        lora_rank=IntRange(default=32, minimum=1, maximum=128),
        text_encoder_lora_rank=IntRange(default=16, minimum=1, maximum=128),
        # The lower bounds are the smallest latent the pipeline takes, not a quality floor (SDXL below
        # ~768 px degrades): tests and the local cloud's tiny SDXL train and render at 64 px.
        resolution=IntRange(default=1024, minimum=64, maximum=1024),
        train_text_encoder=False,
        with_prior_preservation=False,
        num_class_images=IntRange(default=100, minimum=1, maximum=300),
        gradient_checkpointing=True,
        use_8bit_adam=True,
        mixed_precision="auto",
        precompute_latents=True,
        precompute_text_embeddings=True,
    ),
    time_budget=TimeBudget(
        # Estimates (not measured here): SD 2.1's calibrated A10G step (≈ 0.55 s at 512 px) × SDXL's UNet
        # work per pass at 1024 px relative to SD 2.1's at 512 px (≈ 4.4×: public fp16 inference times of
        # ~12 s per 30-step 1024 px image on an A10G against 2.5 s at 512 px), rounded up.
        step_seconds=2.4,
        image_seconds=12.0,
        fixed_seconds=120.0,  # 6.9 GB of weights loaded up to three times, latents, embeddings
        attention_share=0.15,
        text_encoder_factor=1.15,  # two text encoders (CLIP ViT-L and OpenCLIP ViT-bigG)
        source="estimate: SD 2.1-base's calibrated A10G step scaled by SDXL's UNet work at 1024 px",
    ),
    generation=GenerationDefaults(
        min_side=64,
        max_side=1536,
        steps=_SAMPLING,
        guidance_scale=7.5,
        hires_max_side=2048,
        relative_throughput=0.8,  # 30 steps at 1024² in ~12 s against 512² in 2.5 s on an A10G
    ),
    training_instance_type="ml.g5.2xlarge",  # A10G, 24 GB
    hosting_instance_type="ml.g5.2xlarge",
)

FAMILIES: Final[Mapping[FamilyName, BaseFamily]] = {f.name: f for f in (SD21_BASE, SDXL_BASE_1_0)}


class UnknownFamilyError(ValueError):
    """A family name that is none of FAMILIES."""


class FamilyMismatchError(ValueError):
    """A model trained on one family used where another is served."""

    def __init__(self, model_family: str, served_family: str, model: str = "the model") -> None:
        self.model_family, self.served_family = model_family, served_family
        super().__init__(
            f"{model} was trained on base family {model_family!r}; this deployment serves "
            f"{served_family!r}: retrain it on {served_family!r} or deploy baseModel={model_family!r}"
        )


def family(name: str | FamilyName) -> BaseFamily:
    """The family called `name` (UnknownFamilyError naming the known ones)."""
    try:
        return FAMILIES[FamilyName(name)]
    except ValueError:
        known = ", ".join(FAMILIES)
        raise UnknownFamilyError(f"unknown base family {name!r}; one of: {known}") from None


def family_from_env(environ: Mapping[str, str] | None = None) -> BaseFamily:
    """The family the CDK app (or the local cloud) configured (`AVATAR_BASE_FAMILY`; unset: the default)."""
    value = (os.environ if environ is None else environ).get(Env.BASE_FAMILY, "").strip()
    return family(value or DEFAULT_FAMILY)


def family_of(metadata: Mapping[str, Any] | None) -> FamilyName:
    """The family a model's metadata (or API record) names; none named: `LEGACY_FAMILY`."""
    value = (metadata or {}).get(FAMILY_KEY)
    return family(str(value)).name if value else LEGACY_FAMILY


def require_family(
    metadata: Mapping[str, Any] | None, served: str | FamilyName, model: str = "the model"
) -> None:
    """FamilyMismatchError when the model's family is not the `served` one."""
    mine = family_of(metadata)
    if mine != FamilyName(served):
        raise FamilyMismatchError(str(mine), str(FamilyName(served)), model)
