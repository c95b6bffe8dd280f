"""The web app's presets and advanced panel: documented keys only, valid for the API, and the panel's
values turn back into exactly the preset's configuration."""

from __future__ import annotations

import pytest
from pydantic import Field as PydanticField
from pydantic import create_model

from avatar_contract.families import FamilyName, family
from avatar_contract.training import TrainingHyperparameters, hyperparameters_model
from local_cloud.demo import DEMO_TRAINING_CONFIG
from webui.presets import FIELDS, PRESETS, config_from_values, fields_for, fields_from, preset_values


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_is_a_valid_configuration_of_documented_keys(name: str) -> None:
    TrainingHyperparameters.model_validate(PRESETS[name])  # extra="forbid": unknown keys fail
    assert set(PRESETS[name]) <= {field.key for field in FIELDS}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_the_panel_shows_a_preset_and_sends_back_exactly_it(name: str) -> None:
    assert config_from_values(preset_values(name)) == PRESETS[name]


def test_the_panel_defaults_are_the_apis_defaults() -> None:
    defaults = TrainingHyperparameters()
    for field in FIELDS:
        assert getattr(defaults, field.key) == field.default, field.key


def test_fast_is_what_the_tiny_model_trains_in_seconds() -> None:
    demo = {key: value for key, value in DEMO_TRAINING_CONFIG.items() if key != "validation_prompts"}
    assert PRESETS["fast"] == demo


def test_an_edited_panel_sends_the_edits_parsed() -> None:
    values = preset_values("standard")
    keys = [field.key for field in FIELDS]
    values[keys.index("max_train_steps")] = 12.0  # a number input may answer a float
    values[keys.index("validation_prompts")] = "a photo of <<TOK>>\n\n a painting of <<TOK>> "
    config = config_from_values(values)
    assert config == {
        "max_train_steps": 12,
        "validation_prompts": ["a photo of <<TOK>>", "a painting of <<TOK>>"],
    }
    TrainingHyperparameters.model_validate(config)


def test_an_empty_token_box_leaves_the_token_to_the_service() -> None:
    values = preset_values("standard")
    keys = [field.key for field in FIELDS]
    assert values[keys.index("token")] is None
    values[keys.index("token")] = "  "
    assert "token" not in config_from_values(values)
    values[keys.index("token")] = "zwx"
    assert config_from_values(values)["token"] == "zwx"


@pytest.mark.parametrize("name", list(FamilyName))
def test_the_panel_shows_the_targets_family_defaults_and_bounds(name: FamilyName) -> None:
    base = family(name)
    fields = {field.key: field for field in fields_for(base)}
    defaults = hyperparameters_model(name)()
    for key, field in fields.items():
        assert getattr(defaults, key) == field.default, key
    assert fields["resolution"].maximum == base.training.resolution.maximum
    assert fields["lora_rank"].maximum == base.training.lora_rank.maximum
    for preset in PRESETS.values():  # every preset is valid for every family
        hyperparameters_model(name).model_validate(preset)


def test_the_panel_is_generated_from_the_schema() -> None:
    schema = create_model(
        "Edited",
        __base__=hyperparameters_model(),
        prior_loss_weight=(float, PydanticField(2.5, ge=0.5, le=3)),
        min_usable_images=(int, PydanticField(5, ge=2, le=9)),
        class_prompt=(str, "a photo of a dog"),
    )
    fields = {field.key: field for field in fields_from(schema)}
    weight, usable = fields["prior_loss_weight"], fields["min_usable_images"]
    assert (weight.default, weight.minimum, weight.maximum) == (2.5, 0.5, 3)
    assert (usable.default, usable.minimum, usable.maximum) == (5, 2, 9)
    assert fields["class_prompt"].default == "a photo of a dog"
