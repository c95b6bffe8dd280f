"""The training contract: the hyper-parameters a client may set, the full `config.json` inside the
training input archive, and the JSON the training container returns on success (docs/design.md §4).

Bounds live here once: the API rejects out-of-range values with the field name, and the training
container validates the same model again when it reads `config.json`. The defaults and bounds that
depend on the base model come from its family (`avatar_contract.families`): `hyperparameters_model` and
`training_config_model` are the schemas of one family; the classes below accept any family's values
(their defaults are the default family's) and are what the family schemas extend.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)

from avatar_contract.families import DEFAULT_FAMILY, FAMILIES, FamilyName, IntRange, family
from avatar_contract.names import TOKEN_PLACEHOLDER
from avatar_contract.prompts import DEFAULT_CLASS_NOUN, class_noun
from avatar_contract.training_budget import DEFAULT_CHECKPOINT_EVERY, MAX_CHECKPOINTS, checkpoint_interval

MIN_IMAGES = 10
MAX_IMAGES = 20
PROMPT_MAX_CHARS = 500
TOKEN_PATTERN = r"^[a-z0-9]{2,16}$"
# The reference sample's identifier: a `config.json` without `token` (the reference's layout) trains with it.
REFERENCE_TOKEN = "sks"
# The default validation prompts (docs/training.md): one in a context the selfies do not show, one style
# prompt, so the kept checkpoint generalises instead of reconstructing the training photos.
DEFAULT_VALIDATION_PROMPTS = (
    f"a photo of {TOKEN_PLACEHOLDER} outdoors in a park, smiling",
    f"a portrait of {TOKEN_PLACEHOLDER}, oil painting",
)
_DEFAULTS = family(DEFAULT_FAMILY).training


def names_the_subject(message: str) -> AfterValidator:
    """A prompt field's check that the prompt contains `<<TOK>>` (the user's subject): `message` when not."""

    def check(prompt: str) -> str:
        if TOKEN_PLACEHOLDER not in prompt:
            raise ValueError(message)
        return prompt

    return AfterValidator(check)


def _widest(name: str) -> IntRange:
    """The union of every family's bounds of `name` (the family-free schema's), the default family's
    default."""
    ranges = [getattr(f.training, name) for f in FAMILIES.values()]
    return IntRange(
        default=getattr(_DEFAULTS, name).default,
        minimum=min(r.minimum for r in ranges),
        maximum=max(r.maximum for r in ranges),
    )


def _widest_rate(name: str) -> tuple[float, float]:
    return getattr(_DEFAULTS, name).default, max(getattr(f.training, name).maximum for f in FAMILIES.values())


_STEPS, _RANK, _TE_RANK = _widest("max_train_steps"), _widest("lora_rank"), _widest("text_encoder_lora_rank")
_RESOLUTION, _CLASS_IMAGES = _widest("resolution"), _widest("num_class_images")
_LR, _TE_LR = _widest_rate("learning_rate"), _widest_rate("text_encoder_learning_rate")


class TrainingHyperparameters(BaseModel):
    """What a client may set in `POST /trainings` (all optional; unknown keys are rejected)."""

    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(
        None,
        pattern=TOKEN_PATTERN,
        description="Rare identifier bound to the person; <<TOK>> stands for it and the class noun. Left "
        "out: the service picks a rare one (docs/training.md); one you choose is moderated like the prompts.",
    )
    class_prompt: str = Field("a photo of person", min_length=3, max_length=PROMPT_MAX_CHARS)
    class_noun: str | None = Field(
        None,
        pattern=r"^[A-Za-z][A-Za-z-]{0,31}$",
        description="The class word <<TOK>> adds after the token; a word of class_prompt (default: "
        "'person' when the class prompt has it, else its last word)",
    )
    instance_prompt: Annotated[
        str, names_the_subject(f"must contain the placeholder {TOKEN_PLACEHOLDER}")
    ] = Field(f"a photo of {TOKEN_PLACEHOLDER}", min_length=3, max_length=PROMPT_MAX_CHARS)
    max_train_steps: int = Field(_STEPS.default, ge=_STEPS.minimum, le=_STEPS.maximum)
    learning_rate: float = Field(_LR[0], gt=0, le=_LR[1])
    lora_rank: int = Field(_RANK.default, ge=_RANK.minimum, le=_RANK.maximum)
    train_text_encoder: bool = _DEFAULTS.train_text_encoder
    text_encoder_lora_rank: int = Field(_TE_RANK.default, ge=_TE_RANK.minimum, le=_TE_RANK.maximum)
    text_encoder_learning_rate: float = Field(_TE_LR[0], gt=0, le=_TE_LR[1])
    with_prior_preservation: bool = _DEFAULTS.with_prior_preservation
    num_class_images: int = Field(_CLASS_IMAGES.default, ge=_CLASS_IMAGES.minimum, le=_CLASS_IMAGES.maximum)
    prior_loss_weight: float = Field(1.0, ge=0, le=10)
    resolution: int = Field(
        _RESOLUTION.default, ge=_RESOLUTION.minimum, le=_RESOLUTION.maximum, multiple_of=8
    )
    face_crop: bool = True
    min_usable_images: int = Field(8, ge=1, le=MAX_IMAGES)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = _DEFAULTS.mixed_precision
    gradient_checkpointing: bool | None = Field(
        _DEFAULTS.gradient_checkpointing,
        description="null: on only when the GPU has less memory than the run needs (trainer)",
    )
    use_8bit_adam: bool = _DEFAULTS.use_8bit_adam
    snr_gamma: float | None = Field(
        5.0, gt=0, le=20, description="Min-SNR loss weighting (Hang et al., 2023); null: plain MSE"
    )
    face_loss_weight: float | None = Field(
        None,
        ge=1,
        le=10,
        description="Weigh the loss inside each selfie's face box this many times the rest (needs "
        "face_crop); null: uniform",
    )
    validation_prompts: list[str] = Field(
        default_factory=lambda: list(DEFAULT_VALIDATION_PROMPTS), max_length=4
    )  # []: no previews, so no checkpoint selection either (the last step is published)
    min_identity_similarity: float | None = Field(
        None, ge=0, le=1, description="Fail the training when the previews' median likeness is below this"
    )
    checkpoint_every_steps: int | None = Field(
        None,
        ge=0,
        le=3000,
        description="Save the adapter every K steps and keep the earliest checkpoint whose previews look "
        "about as much like the selfies as the best one's (0: off, the last one is kept; null: every "
        f"{DEFAULT_CHECKPOINT_EVERY} steps, or {MAX_CHECKPOINTS} evenly spaced, when face_crop is on)",
    )
    checkpoint_selection: Literal["best_identity", "last"] = Field(
        "best_identity",
        description="With checkpoints: keep the earliest checkpoint within one standard error of the "
        "best mean identity similarity, or score them all and keep the last",
    )

    @field_validator("validation_prompts")
    @classmethod
    def _bounded_prompts(cls, value: list[str]) -> list[str]:
        for prompt in value:
            if not prompt.strip() or len(prompt) > PROMPT_MAX_CHARS:
                raise ValueError(f"each validation prompt must be 1-{PROMPT_MAX_CHARS} characters")
        return value

    @model_validator(mode="after")
    def _class_noun_in_class_prompt(self) -> TrainingHyperparameters:
        if self.class_noun is not None and self.class_noun.lower() not in _words(self.class_prompt):
            raise ValueError(
                f"class_noun {self.class_noun!r} is not a word of class_prompt {self.class_prompt!r}"
            )
        return self

    @model_validator(mode="after")
    def _face_weight_needs_faces(self) -> TrainingHyperparameters:
        if self.face_loss_weight is not None and not self.face_crop:
            raise ValueError("face_loss_weight needs face_crop: the face boxes come from the screening")
        return self

    @model_validator(mode="after")
    def _checkpoints_fit(self) -> TrainingHyperparameters:
        if not self.checkpoint_every_steps:  # off, or automatic (always fits)
            return self
        if not self.face_crop:
            raise ValueError(
                "checkpoint_every_steps needs face_crop: checkpoints are scored against the screened selfies"
            )
        if checkpoint_count(self) > MAX_CHECKPOINTS:
            raise ValueError(
                f"checkpoint_every_steps: {self.max_train_steps} steps every {self.checkpoint_every_steps} "
                f"make {checkpoint_count(self)} checkpoints; at most {MAX_CHECKPOINTS}"
            )
        return self


def _words(prompt: str) -> set[str]:
    return {word.strip(".,;:!?()").lower() for word in prompt.split()}


def checkpoint_steps(hyperparameters: TrainingHyperparameters) -> list[int]:
    """The steps a checkpoint is taken at (every K steps and the last step); [] when selection is off
    (or there are no validation prompts to score checkpoints with)."""
    if not hyperparameters.validation_prompts:
        return []
    last = hyperparameters.max_train_steps
    every = checkpoint_interval(last, hyperparameters.checkpoint_every_steps, hyperparameters.face_crop)
    if not every:
        return []
    return [*range(every, last, every), last]


def effective_class_noun(hyperparameters: TrainingHyperparameters) -> str:
    """The class noun `<<TOK>>` adds: `class_noun`, else "person" when the class prompt says it, else
    the class prompt's last word (what models trained before `class_noun` existed use)."""
    if hyperparameters.class_noun:
        return hyperparameters.class_noun
    if DEFAULT_CLASS_NOUN in _words(hyperparameters.class_prompt):
        return DEFAULT_CLASS_NOUN
    return class_noun({"class_prompt": hyperparameters.class_prompt})


def checkpoint_count(hyperparameters: TrainingHyperparameters) -> int:
    return len(checkpoint_steps(hyperparameters))


class TrainingConfig(TrainingHyperparameters):
    """`config.json` in the training input archive: the hyper-parameters plus the job's identity and
    destinations, written by the API handler (or the reference's own keys, mapped by the container)."""

    schema_version: Literal[1] = 1
    base_family: FamilyName | None = Field(
        None,
        description="The family the API validated it for; the container refuses another (null: written "
        "before families, sd21-base)",
    )
    token: str = Field(
        REFERENCE_TOKEN,
        pattern=TOKEN_PATTERN,
        description="The identifier <<TOK>> renders with (the API always writes it; the reference's without)",
    )
    training_id: str
    model_id: str
    owner: str
    model_name: str | None = Field(None, max_length=100)
    base_model_id: str | None = None
    model_s3_uri: str = Field(..., pattern=r"^s3://[^/]+/.+\.tar\.gz$", description="Artifact destination")
    preview_s3_prefix: str = Field(..., pattern=r"^s3://[^/]+/.*/$", description="Where previews go")


def _family_fields(name: FamilyName) -> dict[str, Any]:
    """The field definitions whose defaults and bounds are the family's."""
    t = family(name).training

    def ranged(r: IntRange, **extra: Any) -> tuple[type, Any]:
        return int, Field(r.default, ge=r.minimum, le=r.maximum, **extra)

    return {
        "max_train_steps": ranged(t.max_train_steps),
        "learning_rate": (float, Field(t.learning_rate.default, gt=0, le=t.learning_rate.maximum)),
        "lora_rank": ranged(t.lora_rank),
        "train_text_encoder": (bool, t.train_text_encoder),
        "text_encoder_lora_rank": ranged(t.text_encoder_lora_rank),
        "text_encoder_learning_rate": (
            float,
            Field(t.text_encoder_learning_rate.default, gt=0, le=t.text_encoder_learning_rate.maximum),
        ),
        "with_prior_preservation": (bool, t.with_prior_preservation),
        "num_class_images": ranged(t.num_class_images),
        "resolution": ranged(t.resolution, multiple_of=8),
        "mixed_precision": (Literal["auto", "no", "fp16", "bf16"], t.mixed_precision),
        "gradient_checkpointing": (
            bool | None,
            Field(
                t.gradient_checkpointing,
                description="null: on only when the GPU has less memory than the run needs (trainer)",
            ),
        ),
        "use_8bit_adam": (bool, t.use_8bit_adam),
    }


@cache
def hyperparameters_model(name: FamilyName | str = DEFAULT_FAMILY) -> type[TrainingHyperparameters]:
    """`TrainingHyperparameters` with the defaults and bounds of the family `name`."""
    chosen = family(name).name
    return create_model(
        f"TrainingHyperparameters_{chosen.name}", __base__=TrainingHyperparameters, **_family_fields(chosen)
    )


@cache
def training_config_model(name: FamilyName | str = DEFAULT_FAMILY) -> type[TrainingConfig]:
    """`TrainingConfig` with the defaults and bounds of the family `name` (what its container reads)."""
    chosen = family(name).name
    return create_model(f"TrainingConfig_{chosen.name}", __base__=TrainingConfig, **_family_fields(chosen))


def for_family(
    hyperparameters: TrainingHyperparameters | None, name: FamilyName | str
) -> TrainingHyperparameters:
    """`hyperparameters` (as the client set them; None: all defaults) validated against the family
    `name`: its defaults for what is unset, its bounds (pydantic's ValidationError naming the field)."""
    model = hyperparameters_model(name)
    if hyperparameters is None:
        return model()
    return model.model_validate(hyperparameters.model_dump(exclude_unset=True))


class CheckpointLikeness(BaseModel):
    """One checkpoint's previews scored against the selfies (checkpoint selection)."""

    step: int
    identity_similarity: list[float | None] = Field(default_factory=list, description="Per preview")
    identity_similarity_median: float | None = Field(None, description="null: no preview has a face")
    identity_similarity_mean: float | None = Field(
        None, description="Over every preview, a failure (no face, near copy) counting 0; null: no face"
    )
    identity_similarity_stderr: float | None = Field(None, description="Standard error of that mean")
    failures: int = Field(0, description="Previews without a face or near-copying a training photo")


class TrainingMetrics(BaseModel):
    steps: int
    seconds: float
    final_loss: float
    usable_images: int
    rejected_images: dict[str, str] = Field(default_factory=dict, description="file name -> reason")
    preview_image_keys: list[str] = Field(default_factory=list)
    identity_similarity: list[float | None] = Field(
        default_factory=list, description="Per preview: 1 - face distance to the selfies; null: no face"
    )
    identity_similarity_median: float | None = None
    identity_similarity_threshold: float | None = Field(
        None, description="Same person above this (calibrated to the selfies, face_analysis.likeness)"
    )
    checkpoint_step: int | None = Field(
        None, description="The step of the checkpoint kept (checkpoint selection on); null: off, the last"
    )
    checkpoints: list[CheckpointLikeness] = Field(
        default_factory=list, description="Every checkpoint scored (checkpoint selection on)"
    )
    stopped_early: bool = Field(
        False, description="The time budget's projection ended the training before max_train_steps"
    )


class TrainingResult(BaseModel):
    """What the training container returns on success (SageMaker stores it as the async output)."""

    status: Literal["completed"] = "completed"
    training_id: str
    model_id: str
    target_model: str
    model_s3_uri: str
    metrics: TrainingMetrics


class TrainingFailure(BaseModel):
    """What the training container returns (with a non-2xx status) when a training fails."""

    status: Literal["failed"] = "failed"
    training_id: str | None = None
    reason: str
