"""The training schema of each base family: its defaults, its bounds (avatar_contract.training)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from avatar_contract.families import FamilyName, family
from avatar_contract.training import (
    TrainingConfig,
    TrainingHyperparameters,
    for_family,
    hyperparameters_model,
    training_config_model,
)

DESTINATIONS = {
    "training_id": "t",
    "model_id": "m",
    "owner": "o",
    "model_s3_uri": "s3://b/models/o/m.tar.gz",
    "preview_s3_prefix": "s3://b/previews/",
}


@pytest.mark.parametrize("name", list(FamilyName))
def test_a_family_schema_defaults_to_the_family(name: FamilyName) -> None:
    t = family(name).training
    defaults = hyperparameters_model(name)()
    assert isinstance(defaults, TrainingHyperparameters)
    assert defaults.resolution == t.resolution.default == family(name).native_resolution
    assert defaults.max_train_steps == t.max_train_steps.default
    assert defaults.lora_rank == t.lora_rank.default
    assert defaults.with_prior_preservation is t.with_prior_preservation
    assert defaults.use_8bit_adam is t.use_8bit_adam
    config = training_config_model(name)(**DESTINATIONS)
    assert isinstance(config, TrainingConfig) and config.resolution == t.resolution.default


def test_unset_fields_take_the_family_default_and_set_ones_stay() -> None:
    sent = TrainingHyperparameters(max_train_steps=600)  # parsed by the family-free request schema
    sdxl = for_family(sent, "sdxl-base-1.0")
    assert (sdxl.max_train_steps, sdxl.resolution, sdxl.use_8bit_adam) == (600, 1024, True)
    sd21 = for_family(sent, "sd21-base")
    assert (sd21.max_train_steps, sd21.resolution, sd21.use_8bit_adam) == (600, 512, False)
    assert for_family(None, "sdxl-base-1.0").resolution == 1024


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("sdxl-base-1.0", "text_encoder_lora_rank", 200),  # above SDXL's bound, fine for SD 2.1
        ("sdxl-base-1.0", "lora_rank", 200),  # above SDXL's rank bound
        ("sd21-base", "resolution", 1032),
    ],
)
def test_values_outside_the_family_bounds_are_refused_naming_the_field(
    name: str, field: str, value: int
) -> None:
    sent = TrainingHyperparameters.model_validate({field: value}) if value <= 1024 else None
    if sent is None:
        with pytest.raises(ValidationError, match=field):
            TrainingHyperparameters.model_validate({field: value})
        return
    with pytest.raises(ValidationError, match=field):
        for_family(sent, name)


def test_validators_still_apply_in_a_family_schema() -> None:
    with pytest.raises(ValidationError, match="face_loss_weight needs face_crop"):
        hyperparameters_model("sdxl-base-1.0")(face_loss_weight=2, face_crop=False)
