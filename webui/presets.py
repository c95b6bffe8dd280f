"""Training presets and the advanced panel's fields: documented configuration keys only, generated from
the hyper-parameter schema (`avatar_contract.training.hyperparameters_model`: each key's default and
bounds) of the base family the target serves (`AVATAR_BASE_FAMILY`, default sd21-base)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from avatar_client.presets import TRAINING_PRESETS
from avatar_contract.families import BaseFamily, family_from_env
from avatar_contract.names import TOKEN_PLACEHOLDER
from avatar_contract.training import hyperparameters_model

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
    """The panel's fields with the API's defaults and bounds for `base` (docs/training.md, "Configuration
    keys and defaults"), in the panel's order."""
    return fields_from(hyperparameters_model(base.name))


def fields_from(schema: type[BaseModel]) -> tuple[Field, ...]:
    """The panel's fields generated from the hyper-parameter schema: each key's default and its `ge`/`le`
    bounds come from the model; the labels, steps and order are the panel's own."""
    keys = schema.model_fields

    def field(key: str, label: str, kind: Any, **options: Any) -> Field:  # kind: as `Field.kind`
        return Field(key, label, kind, _default(keys[key]), **options)

    def number(key: str, label: str, kind: Literal["int", "float"], step: float | None = None) -> Field:
        minimum, maximum = _bounds(keys[key])
        return field(key, label, kind, minimum=minimum, maximum=maximum, step=step)

    learning_rate_maximum = _bounds(keys["learning_rate"])[1]
    return (
        number("max_train_steps", "Training steps", "int", 1),
        number("resolution", "Resolution (px)", "int", 8),
        field("learning_rate", "Learning rate", "float", info=f"above 0, at most {learning_rate_maximum:g}"),
        number("lora_rank", "LoRA rank (UNet)", "int", 1),
        field("train_text_encoder", "Train the text encoders", "bool"),
        number("text_encoder_lora_rank", "LoRA rank (text encoders)", "int", 1),
        field("text_encoder_learning_rate", "Text encoder learning rate", "float"),
        field("with_prior_preservation", "Prior preservation", "bool"),
        number("num_class_images", "Class images", "int", 1),
        number("prior_loss_weight", "Prior loss weight", "float"),
        field("face_crop", "Screen faces and crop around them", "bool"),
        number("min_usable_images", "Minimum usable selfies", "int", 1),
        number("seed", "Seed", "int", 1),
        field(
            "mixed_precision",
            "Mixed precision",
            "choice",
            choices=get_args(keys["mixed_precision"].annotation),
        ),
        field(
            "gradient_checkpointing",
            "Gradient checkpointing",
            "choice",
            choices=("auto", "on", "off"),
            values=(None, True, False),
            info="auto: only where memory needs it",
        ),
        field("use_8bit_adam", "8-bit Adam", "bool"),
        field(
            "token",
            "Identifier token",
            "text",
            info="empty: the service picks a rare one; else 2-16 lowercase letters or digits (moderated)",
        ),
        field("instance_prompt", "Instance prompt", "text", info=f"must contain {TOKEN_PLACEHOLDER}"),
        field("class_prompt", "Class prompt", "text"),
        field("validation_prompts", "Preview prompts (one a line, at most 4)", "lines"),
    )


def _default(field: FieldInfo) -> Any:
    return field.get_default(call_default_factory=True)


def _bounds(field: FieldInfo) -> tuple[float | None, float | None]:
    """The field's inclusive bounds (`ge`, `le`), None where it has none."""
    minimum = next((item.ge for item in field.metadata if isinstance(item, annotated_types.Ge)), None)
    maximum = next((item.le for item in field.metadata if isinstance(item, annotated_types.Le)), None)
    return minimum, maximum  # type: ignore[return-value]


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
