"""Training presets and the advanced panel's fields: documented configuration keys only
(docs/training.md, `avatar_contract.training.TrainingHyperparameters`), with the defaults and bounds of the
base family the target serves (`AVATAR_BASE_FAMILY`, default sd21-base: `avatar_contract.families`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from avatar_client.presets import TRAINING_PRESETS
from avatar_contract.families import BaseFamily, family_from_env
from avatar_contract.training import DEFAULT_VALIDATION_PROMPTS

# The SDK's presets (avatar_client.presets): fast, standard, best.
PRESETS: dict[str, dict[str, Any]] = TRAINING_PRESETS
DEFAULT_PRESET = "standard"


@dataclass(frozen=True)
class Field:
    """One documented configuration key in the advanced panel."""

    key: str
    label: str
    kind: Literal["int", "float", "bool", "choice", "text", "lines"]
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    info: str = ""
    values: tuple[Any, ...] = ()  # a "choice" whose labels stand for these values (same order)


def fields_for(base: BaseFamily) -> tuple[Field, ...]:
    """The panel's fields with the API's defaults for `base` (docs/training.md, "Configuration keys and
    defaults"), in the panel's order."""
    t = base.training
    steps, resolution, rank, te_rank, classes = (
        t.max_train_steps, t.resolution, t.lora_rank, t.text_encoder_lora_rank, t.num_class_images
    )  # fmt: skip
    return (
        Field("max_train_steps", "Training steps", "int", steps.default, steps.minimum, steps.maximum, 1),
        Field(
            "resolution",
            "Resolution (px)",
            "int",
            resolution.default,
            resolution.minimum,
            resolution.maximum,
            8,
        ),
        Field(
            "learning_rate",
            "Learning rate",
            "float",
            t.learning_rate.default,
            info=f"above 0, at most {t.learning_rate.maximum:g}",
        ),
        Field("lora_rank", "LoRA rank (UNet)", "int", rank.default, rank.minimum, rank.maximum, 1),
        Field("train_text_encoder", "Train the text encoders", "bool", t.train_text_encoder),
        Field(
            "text_encoder_lora_rank",
            "LoRA rank (text encoders)",
            "int",
            te_rank.default,
            te_rank.minimum,
            te_rank.maximum,
            1,
        ),
        Field(
            "text_encoder_learning_rate",
            "Text encoder learning rate",
            "float",
            t.text_encoder_learning_rate.default,
        ),
        Field("with_prior_preservation", "Prior preservation", "bool", t.with_prior_preservation),
        Field(
            "num_class_images", "Class images", "int", classes.default, classes.minimum, classes.maximum, 1
        ),
        *_common_fields(t.mixed_precision, t.gradient_checkpointing, t.use_8bit_adam),
    )


def _common_fields(
    mixed_precision: str, gradient_checkpointing: bool | None, use_8bit_adam: bool
) -> tuple[Field, ...]:
    return (
        Field("prior_loss_weight", "Prior loss weight", "float", 1.0, 0, 10),
        Field("face_crop", "Screen faces and crop around them", "bool", True),
        Field("min_usable_images", "Minimum usable selfies", "int", 8, 1, 20, 1),
        Field("seed", "Seed", "int", 0, 0, 2**32 - 1, 1),
        Field(
            "mixed_precision",
            "Mixed precision",
            "choice",
            mixed_precision,
            choices=("auto", "no", "fp16", "bf16"),
        ),
        Field(
            "gradient_checkpointing",
            "Gradient checkpointing",
            "choice",
            gradient_checkpointing,
            choices=("auto", "on", "off"),
            values=(None, True, False),
            info="auto: only where memory needs it",
        ),
        Field("use_8bit_adam", "8-bit Adam", "bool", use_8bit_adam),
        Field(
            "token",
            "Identifier token",
            "text",
            None,
            info="empty: the service picks a rare one; else 2-16 lowercase letters or digits (moderated)",
        ),
        Field(
            "instance_prompt", "Instance prompt", "text", "a photo of <<TOK>>", info="must contain <<TOK>>"
        ),
        Field("class_prompt", "Class prompt", "text", "a photo of person"),
        Field(
            "validation_prompts",
            "Preview prompts (one a line, at most 4)",
            "lines",
            list(DEFAULT_VALIDATION_PROMPTS),
        ),
    )


# The target's family (the web app's AVATAR_BASE_FAMILY; a deployed stack's cdk.json baseModel).
FAMILY = family_from_env()
FIELDS: tuple[Field, ...] = fields_for(FAMILY)


def preset_values(name: str) -> list[Any]:
    """The advanced panel's values for a preset, in `FIELDS` order (what the panel then shows)."""
    overrides = PRESETS[name]
    return [_shown(field, overrides.get(field.key, field.default)) for field in FIELDS]


def _shown(field: Field, value: Any) -> Any:
    if field.values:
        return field.choices[field.values.index(value)]
    return "\n".join(value) if field.kind == "lines" else value


def config_from_values(values: list[Any]) -> dict[str, Any]:
    """The `config` of `POST /trainings` from the advanced panel's values: only the keys that differ from
    the API's defaults (so the request says what was chosen; the API validates every value)."""
    config: dict[str, Any] = {}
    for field, value in zip(FIELDS, values, strict=True):
        parsed = _parsed(field, value)
        if parsed != field.default:
            config[field.key] = parsed
    return config


def _parsed(field: Field, value: Any) -> Any:
    if field.kind == "int":
        return int(value) if value is not None else field.default
    if field.kind == "float":
        return float(value) if value is not None else field.default
    if field.kind == "bool":
        return bool(value)
    if field.kind == "lines":
        return [line.strip() for line in str(value or "").splitlines() if line.strip()]
    if field.values:
        return field.values[field.choices.index(str(value))] if value is not None else field.default
    text = str(value).strip() if value is not None else ""
    return text or field.default  # an emptied box: the API's default (for the token, the service's pick)
