"""config.json: our format validated with field names, the reference sample's keys mapped."""

from __future__ import annotations

import pytest

from avatar_contract.families import FamilyName, family
from avatar_contract.keys import model_key, preview_prefix
from avatar_contract.names import Env
from tests.fixtures.training_samples import training_config
from training_service.config import REFERENCE_OWNER, load_training_config
from training_service.errors import InvalidInput
from training_service.settings import Settings

SETTINGS = Settings(hosting_bucket="hosting", data_bucket="data")


def test_our_config_is_taken_as_is() -> None:
    raw = training_config("hosting", "data", lora_rank=8)
    config = load_training_config(raw, SETTINGS)
    assert config.training_id == raw["training_id"] and config.lora_rank == 8


def test_invalid_fields_are_named() -> None:
    raw = training_config("hosting", "data", lora_rank=0, learning_rate=1, colour="red")
    with pytest.raises(InvalidInput) as caught:
        load_training_config(raw, SETTINGS)
    assert "lora_rank" in caught.value.reason
    assert "learning_rate" in caught.value.reason
    assert "colour" in caught.value.reason


def test_reference_keys_are_mapped_with_its_defaults() -> None:
    raw = {
        "face_preprocessing": True,
        "n_steps": 300,
        "concept_prompt": "portrait of <<TOK>>",
        "lora_r": 16,
        "lora_alpha": 1,
        "lora_text_encoder_r": 8,
        "train_text_encoder": False,
        "fp16": False,
        "num_class_images": 20,
        "class_data_dir": "/tmp/priors",
    }
    config = load_training_config(raw, SETTINGS, inference_id="t-" + "a" * 20)
    assert (config.face_crop, config.max_train_steps, config.instance_prompt) == (
        True,
        300,
        "portrait of <<TOK>>",
    )
    assert (config.lora_rank, config.text_encoder_lora_rank, config.train_text_encoder) == (16, 8, False)
    assert config.mixed_precision == "no" and config.num_class_images == 20
    assert config.training_id == "t-" + "a" * 20 and config.owner == REFERENCE_OWNER
    assert config.model_s3_uri == f"s3://hosting/{model_key(REFERENCE_OWNER, config.model_id)}"
    assert config.preview_s3_prefix == f"s3://data/{preview_prefix(REFERENCE_OWNER, config.training_id)}"


def test_no_config_means_the_reference_defaults() -> None:
    config = load_training_config(None, SETTINGS, inference_id="not-a-training-id")
    assert (config.max_train_steps, config.lora_rank, config.text_encoder_lora_rank) == (1000, 128, 64)
    assert config.face_crop is False and config.instance_prompt == "photo of <<TOK>>"
    assert config.training_id.startswith("t-") and config.training_id != "not-a-training-id"


def test_reference_layout_needs_default_buckets_and_known_keys() -> None:
    with pytest.raises(InvalidInput, match="AVATAR_HOSTING_BUCKET"):
        load_training_config({"n_steps": 10}, Settings())
    with pytest.raises(InvalidInput, match="unknown key"):
        load_training_config({"n_steps": 10, "steps": 5}, SETTINGS)
    with pytest.raises(InvalidInput, match="instance_prompt"):
        load_training_config({"concept_prompt": "photo of jw"}, SETTINGS)


@pytest.mark.parametrize("name", list(FamilyName))
def test_the_config_is_validated_with_the_endpoints_family(name: FamilyName) -> None:
    settings = Settings(hosting_bucket="hosting", data_bucket="data", base_family=name)
    raw = training_config("hosting", "data", base_family=str(name))
    del raw["resolution"]
    config = load_training_config(raw, settings)
    assert config.resolution == family(name).native_resolution
    assert config.use_8bit_adam is family(name).training.use_8bit_adam


def test_a_config_for_another_family_is_refused_naming_both() -> None:
    settings = Settings(hosting_bucket="hosting", data_bucket="data", base_family=FamilyName.SDXL_BASE_1_0)
    with pytest.raises(InvalidInput, match=r"'sd21-base'; this endpoint trains 'sdxl-base-1\.0'"):
        load_training_config(training_config("hosting", "data", base_family="sd21-base"), settings)
    with pytest.raises(InvalidInput, match="lora_rank"):  # within sd21-base's bounds, not sdxl-base-1.0's
        load_training_config(training_config("hosting", "data", lora_rank=200), settings)


def test_the_family_comes_from_the_environment() -> None:
    assert Settings.from_env({Env.BASE_FAMILY: "sdxl-base-1.0"}).base_family == FamilyName.SDXL_BASE_1_0
    assert Settings.from_env({}).base_family == FamilyName.SD21_BASE
