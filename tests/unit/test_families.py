"""The base families (avatar_contract.families): one definition each, selected by name."""

from __future__ import annotations

import pytest

from avatar_contract.families import (
    DEFAULT_FAMILY,
    FAMILIES,
    FAMILY_KEY,
    FamilyMismatchError,
    FamilyName,
    UnknownFamilyError,
    family,
    family_from_env,
    family_of,
    require_family,
)
from avatar_contract.names import Env
from avatar_contract.training_budget import A10G
from avatar_runtime.base_model import Manifest

ALL = list(FamilyName)


@pytest.mark.parametrize("name", ALL)
def test_each_family_has_its_committed_manifest(name: FamilyName) -> None:
    chosen = family(name)
    manifest = Manifest.load(chosen.manifest_path)
    assert manifest.name == name
    assert not manifest.problems()
    staged = {f.path.split("/")[0] for f in manifest.files}
    assert set(chosen.text_encoders) | set(chosen.tokenizers) | {chosen.vae_subfolder, "unet"} <= staged


@pytest.mark.parametrize("name", ALL)
def test_defaults_lie_within_their_bounds(name: FamilyName) -> None:
    chosen = family(name)
    t = chosen.training
    for r in (t.max_train_steps, t.lora_rank, t.text_encoder_lora_rank, t.resolution, t.num_class_images):
        assert r.minimum <= r.default <= r.maximum
    assert t.resolution.default == chosen.native_resolution
    assert t.resolution.default % 8 == 0
    g = chosen.generation
    assert g.min_side <= chosen.native_resolution <= g.max_side <= g.hires_max_side
    assert set(chosen.text_encoder_lora_targets) == set(chosen.text_encoders)
    assert chosen.text_encoder_count == len(chosen.tokenizers)


def test_sdxl_is_two_encoders_at_1024_on_a10g() -> None:
    sdxl = family("sdxl-base-1.0")
    assert sdxl.native_resolution == 1024 == sdxl.face_crop_size
    assert sdxl.text_encoders == ("text_encoder", "text_encoder_2")
    assert sdxl.text2img_pipeline == "StableDiffusionXLPipeline"
    assert sdxl.training_instance_type == sdxl.hosting_instance_type == "ml.g5.2xlarge"
    assert sdxl.training.use_8bit_adam and sdxl.training.gradient_checkpointing


def test_sd21_keeps_the_calibrated_constants() -> None:
    sd21 = family(DEFAULT_FAMILY)
    assert sd21.native_resolution == 512
    assert sd21.time_budget.step_seconds == pytest.approx(0.5502, abs=1e-4)  # the calibration before families
    assert A10G.step_seconds == sd21.time_budget.step_seconds
    assert (sd21.training_instance_type, sd21.hosting_instance_type) == ("ml.g5.2xlarge", "ml.g5.xlarge")


def test_unknown_family_names_the_known_ones() -> None:
    with pytest.raises(UnknownFamilyError, match=r"sd21-base, sdxl-base-1\.0"):
        family("flux")


def test_family_from_env() -> None:
    assert family_from_env({}).name == DEFAULT_FAMILY
    assert family_from_env({Env.BASE_FAMILY: "sdxl-base-1.0"}) is FAMILIES[FamilyName.SDXL_BASE_1_0]
    with pytest.raises(UnknownFamilyError):
        family_from_env({Env.BASE_FAMILY: "sd15"})


def test_models_without_a_family_are_sd21() -> None:
    assert family_of({}) == family_of(None) == FamilyName.SD21_BASE
    assert family_of({FAMILY_KEY: "sdxl-base-1.0"}) == FamilyName.SDXL_BASE_1_0


def test_a_model_of_another_family_is_refused_naming_both() -> None:
    require_family({FAMILY_KEY: "sdxl-base-1.0"}, "sdxl-base-1.0")
    with pytest.raises(FamilyMismatchError) as caught:
        require_family({}, FamilyName.SDXL_BASE_1_0, model="model m1")
    assert "'sd21-base'" in str(caught.value) and "'sdxl-base-1.0'" in str(caught.value)
    assert "model m1" in str(caught.value)


@pytest.mark.parametrize("name", ALL)
def test_token_renders_with_class_noun(name: FamilyName) -> None:
    rendered = family(name).render_prompt(
        "a photo of <<TOK>>", {"token": "zwx", "class_prompt": "a photo of person"}
    )
    assert rendered == "a photo of zwx person"
