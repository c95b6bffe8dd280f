"""Training presets and the advanced panel's fields: documented configuration keys only
(docs/training.md, `avatar_contract.training.TrainingHyperparameters`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from avatar_client.presets import TRAINING_PRESETS
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


# The API's defaults (docs/training.md, "Configuration keys and defaults"), in the panel's order.
FIELDS: tuple[Field, ...] = (
    Field("max_train_steps", "Training steps", "int", 1000, 1, 3000, 1),
    Field("resolution", "Resolution (px)", "int", 512, 64, 1024, 8),
    Field("learning_rate", "Learning rate", "float", 1e-4, info="above 0, at most 0.01"),
    Field("lora_rank", "LoRA rank (UNet)", "int", 32, 1, 256, 1),
    Field("train_text_encoder", "Train the text encoder", "bool", True),
    Field("text_encoder_lora_rank", "LoRA rank (text encoder)", "int", 16, 1, 256, 1),
    Field("text_encoder_learning_rate", "Text encoder learning rate", "float", 1e-5),
    Field("with_prior_preservation", "Prior preservation", "bool", True),
    Field("num_class_images", "Class images", "int", 200, 1, 300, 1),
    Field("prior_loss_weight", "Prior loss weight", "float", 1.0, 0, 10),
    Field("face_crop", "Screen faces and crop around them", "bool", True),
    Field("min_usable_images", "Minimum usable selfies", "int", 8, 1, 20, 1),
    Field("seed", "Seed", "int", 0, 0, 2**32 - 1, 1),
    Field("mixed_precision", "Mixed precision", "choice", "auto", choices=("auto", "no", "fp16", "bf16")),
    Field(
        "gradient_checkpointing",
        "Gradient checkpointing",
        "choice",
        None,
        choices=("auto", "on", "off"),
        values=(None, True, False),
        info="auto: only where memory needs it",
    ),
    Field("use_8bit_adam", "8-bit Adam", "bool", False),
    Field(
        "token",
        "Identifier token",
        "text",
        None,
        info="empty: the service picks a rare one; else 2-16 lowercase letters or digits (moderated)",
    ),
    Field("instance_prompt", "Instance prompt", "text", "a photo of <<TOK>>", info="must contain <<TOK>>"),
    Field("class_prompt", "Class prompt", "text", "a photo of person"),
    Field(
        "validation_prompts",
        "Preview prompts (one a line, at most 4)",
        "lines",
        list(DEFAULT_VALIDATION_PROMPTS),
    ),
)


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
