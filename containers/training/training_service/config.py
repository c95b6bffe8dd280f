"""Turn the archive's `config.json` into a `TrainingConfig`: ours as is, or the reference sample's keys.

Our format is `avatar_contract.training.TrainingConfig` (written by the API). An archive whose config has
no `training_id`/`model_id` (or has no `config.json` at all) is read as the reference sample's input:
its keys are mapped as in `REFERENCE_KEYS`, and the destination it never had is filled in from the
instance's buckets (`AVATAR_HOSTING_BUCKET`, `AVATAR_DATA_BUCKET`).

`check_destinations` then holds every config to those same buckets: the artifact goes only to
`s3://<hosting bucket>/models/<owner>/<model_id>.tar.gz` and the previews only under
`s3://<data bucket>/trainings/<owner>/<training_id>/previews/`, built from the config's own `owner`,
`training_id` and `model_id`; anything else is a 400 before any work (docs/limits-training.md).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from avatar_contract.keys import (
    MODEL_ID_RE,
    OWNER_RE,
    TRAINING_ID_RE,
    check_id,
    model_key,
    new_model_id,
    new_training_id,
    preview_prefix,
    staged_prefix,
)
from avatar_contract.names import TOKEN_PLACEHOLDER
from avatar_contract.training import TrainingConfig, training_config_model
from training_service.errors import InvalidInput, TrainingError
from training_service.settings import Settings

logger = logging.getLogger(__name__)

# Reference key -> our key (None: accepted and ignored, with the reason in REFERENCE_IGNORED).
REFERENCE_KEYS: dict[str, str] = {
    "face_preprocessing": "face_crop",
    "base_model": "base_model_id",
    "resolution": "resolution",
    "n_steps": "max_train_steps",
    "concept_prompt": "instance_prompt",
    "learning_rate": "learning_rate",
    "use_8bit_adam": "use_8bit_adam",
    "gradient_checkpointing": "gradient_checkpointing",
    "train_text_encoder": "train_text_encoder",
    "with_prior_preservation": "with_prior_preservation",
    "prior_loss_weight": "prior_loss_weight",
    "class_prompt": "class_prompt",
    "num_class_images": "num_class_images",
    "lora_r": "lora_rank",
    "lora_text_encoder_r": "text_encoder_lora_rank",
}
REFERENCE_IGNORED: dict[str, str] = {
    "gradient_accumulation": "batch size 1 without accumulation, as the reference ran it",
    "class_data_dir": "class images are cached by the service",
    "lora_alpha": "alpha equals the rank (scale 1), diffusers' convention",
    "lora_text_encoder_alpha": "alpha equals the rank (scale 1), diffusers' convention",
    "lora_bias": "LoRA without bias terms",
    "lora_text_encoder_bias": "LoRA without bias terms",
    "lora_dropout": "no LoRA dropout",
    "lora_text_encoder_dropout": "no LoRA dropout",
}
# The reference's own defaults where they differ from ours: an archive in its layout trains as it did.
REFERENCE_DEFAULTS: dict[str, Any] = {
    "face_crop": False,
    "instance_prompt": f"photo of {TOKEN_PLACEHOLDER}",
    "max_train_steps": 1000,
    "lora_rank": 128,
    "text_encoder_lora_rank": 64,
}
# Anonymous owner of reference-layout trainings (they carry no identity): a fixed id no API caller can get,
# since theirs are keyed HMACs (avatar_contract.keys.owner_of).
REFERENCE_OWNER = hashlib.sha256(b"reference-layout").hexdigest()[:32]


def _fields_error(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "config.json"
        parts.append(f"{where}: {error['msg']}")
    return "invalid config.json: " + "; ".join(parts)


def is_reference_config(raw: dict[str, Any] | None) -> bool:
    return raw is None or not ({"training_id", "model_id"} & raw.keys())


def map_reference_config(raw: dict[str, Any]) -> dict[str, Any]:
    """The reference's keys as our hyper-parameters (unknown keys are errors, as in our own format)."""
    mapped = dict(REFERENCE_DEFAULTS)
    unknown = sorted(set(raw) - REFERENCE_KEYS.keys() - REFERENCE_IGNORED.keys() - {"fp16"})
    if unknown:
        raise InvalidInput(f"invalid config.json: unknown key(s) {', '.join(unknown)}")
    for key, value in raw.items():
        if key in REFERENCE_KEYS:
            mapped[REFERENCE_KEYS[key]] = value
        elif key == "fp16":  # reference: fp16 on/off; ours picks bf16/fp16 per GPU, "no" turns it off
            if value is False:
                mapped["mixed_precision"] = "no"
        else:
            logger.info("config.json key %r ignored: %s", key, REFERENCE_IGNORED[key])
    return mapped


def _reference_destination(settings: Settings, inference_id: str | None) -> dict[str, Any]:
    if not settings.hosting_bucket or not settings.data_bucket:
        raise InvalidInput(
            "config.json has no destination (reference layout) and the service has no default buckets "
            "(AVATAR_HOSTING_BUCKET, AVATAR_DATA_BUCKET)"
        )
    training_id = (
        inference_id if inference_id and TRAINING_ID_RE.fullmatch(inference_id) else new_training_id()
    )
    model_id = new_model_id()
    return {
        "training_id": training_id,
        "model_id": model_id,
        "owner": REFERENCE_OWNER,
        "model_s3_uri": f"s3://{settings.hosting_bucket}/{model_key(REFERENCE_OWNER, model_id)}",
        "preview_s3_prefix": f"s3://{settings.data_bucket}/{preview_prefix(REFERENCE_OWNER, training_id)}",
    }


def load_training_config(
    raw: dict[str, Any] | None, settings: Settings, inference_id: str | None = None
) -> TrainingConfig:
    """Validate the archive's config (ours or the reference's) into a `TrainingConfig` of the base family
    this endpoint trains (its defaults and bounds); InvalidInput for one submitted for another family."""
    if raw is None:
        raw = {}
    if is_reference_config(raw):
        values = map_reference_config(raw)
        values.update(_reference_destination(settings, inference_id))
    else:
        values = raw
    submitted = values.get("base_family")
    if submitted is not None and submitted != settings.base_family:
        raise InvalidInput(
            f"base_family: the training was submitted for base family {submitted!r}; this endpoint trains "
            f"{str(settings.base_family)!r}"
        )
    try:
        return training_config_model(settings.base_family).model_validate(values)
    except ValidationError as exc:
        raise InvalidInput(_fields_error(exc)) from exc


@dataclass(frozen=True)
class Destinations:
    """Where one training may write: its preview prefix and its staging prefix (both in the data bucket;
    the model publisher, not the training, writes `model_key` in the hosting bucket: issue 21 M1)."""

    model_bucket: str
    model_key: str
    preview_bucket: str
    preview_prefix: str
    staged_prefix: str = ""


def check_destinations(config: TrainingConfig, settings: Settings) -> Destinations:
    """The config's destinations, when they are exactly this training's own places in this service's
    buckets; InvalidInput (400) naming the field otherwise."""
    if not settings.hosting_bucket or not settings.data_bucket:
        raise TrainingError(
            "the service has no configured buckets (AVATAR_HOSTING_BUCKET, AVATAR_DATA_BUCKET): "
            "refusing to write anywhere"
        )
    try:
        check_id(config.owner, OWNER_RE, "owner")
        check_id(config.training_id, TRAINING_ID_RE, "training_id")
        check_id(config.model_id, MODEL_ID_RE, "model_id")
    except ValueError as exc:
        raise InvalidInput(f"invalid config.json: {exc}") from exc
    destinations = Destinations(
        settings.hosting_bucket,
        model_key(config.owner, config.model_id),
        settings.data_bucket,
        preview_prefix(config.owner, config.training_id),
        staged_prefix(config.owner, config.training_id),
    )
    expected_model = f"s3://{destinations.model_bucket}/{destinations.model_key}"
    if config.model_s3_uri != expected_model:
        raise InvalidInput(
            f"invalid config.json: model_s3_uri must be {expected_model}, got {config.model_s3_uri!r}"
        )
    expected_previews = f"s3://{destinations.preview_bucket}/{destinations.preview_prefix}"
    if config.preview_s3_prefix != expected_previews:
        raise InvalidInput(
            f"invalid config.json: preview_s3_prefix must be {expected_previews}, "
            f"got {config.preview_s3_prefix!r}"
        )
    return destinations
