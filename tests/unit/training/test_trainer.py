"""The LoRA training loop on the tiny model: reproducible, saves the adapters asked for, stops on NaN."""

from __future__ import annotations

import logging
import math
import re
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from skimage import data

from avatar_contract.prompts import training_prompts
from avatar_contract.training import TrainingHyperparameters
from training_service.errors import TrainingDiverged
from training_service.personalization import instance_text, validation_texts
from training_service.trainer import resolve_precision, train_lora

pytestmark = pytest.mark.slow


def _images(count: int = 4) -> list[Image.Image]:
    base = Image.fromarray(data.astronaut()).resize((64, 64))
    return [base.rotate(5 * n) for n in range(count)]


def _config(**overrides) -> TrainingHyperparameters:
    values = dict(max_train_steps=3, resolution=64, lora_rank=4, text_encoder_lora_rank=2, num_class_images=2)
    return TrainingHyperparameters(**{**values, **overrides})


def test_same_seed_same_adapter_and_text_encoder_lora_included(
    tiny_family_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="training_service.trainer"):
        first = train_lora(
            tiny_family_model_dir, _images(), _config(), tmp_path / "a", "cpu", log_every=2, sample_steps=2
        )
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    assert [m.split(" loss ")[0] for m in progress] == ["step 2/3", "step 3/3"]  # every 2 steps, and the last
    assert all(re.search(r"loss \d+\.\d+ elapsed \d+\.\ds$", m) for m in progress)
    second = train_lora(tiny_family_model_dir, _images(), _config(), tmp_path / "b", "cpu", sample_steps=2)
    a, b = load_file(first.adapter_file), load_file(second.adapter_file)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert first.losses == second.losses and len(first.losses) == 3
    assert any(k.startswith("unet.") for k in a) and any(k.startswith("text_encoder.") for k in a)
    if (tiny_family_model_dir / "text_encoder_2").is_dir():  # SDXL: LoRA on both text encoders
        assert any(k.startswith("text_encoder_2.") for k in a)
    lora_up = [t for k, t in a.items() if "lora.up" in k or "lora_B" in k]
    assert lora_up and any(t.abs().sum() > 0 for t in lora_up)  # B starts at zero: training moved it
    assert first.precision == "float32" and first.seconds_per_step > 0


def test_unet_only_without_prior_preservation(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = _config(train_text_encoder=False, with_prior_preservation=False, gradient_checkpointing=False)
    steps: list[tuple[int, float]] = []
    result = train_lora(
        tiny_model_dir, _images(2), config, tmp_path, "cpu", on_step=lambda n, loss: steps.append((n, loss))
    )
    assert steps == list(enumerate(result.losses, 1))  # after every step: steps done and its loss
    keys = load_file(result.adapter_file).keys()
    assert keys and all(k.startswith("unet.") for k in keys)
    assert not result.trained_text_encoder


def test_a_base_with_only_fp16_weight_files_loads_and_trains(
    tiny_fp16_model_dir: Path, tmp_path: Path
) -> None:
    # What the default manifest stages: *.fp16.safetensors only. Prior preservation renders class images
    # with the pipeline first, then the loop loads each component: both load the variant, cast to float32.
    result = train_lora(
        tiny_fp16_model_dir, _images(2), _config(max_train_steps=1), tmp_path, "cpu", sample_steps=2
    )
    assert result.adapter_file.is_file() and result.precision == "float32" and len(result.losses) == 1


def test_nan_loss_stops_the_training(tiny_model_dir: Path, tmp_path: Path) -> None:
    broken = shutil.copytree(tiny_model_dir, tmp_path / "broken")
    weights = broken / "unet" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(weights)
    tensors["conv_out.bias"] = torch.full_like(tensors["conv_out.bias"], float("nan"))
    save_file(tensors, weights)
    with pytest.raises(TrainingDiverged, match="loss became nan at step 1"):
        train_lora(broken, _images(2), _config(with_prior_preservation=False), tmp_path / "out", "cpu")
    assert not (tmp_path / "out").exists()


def test_helpers() -> None:
    config = _config(token="zwx", class_prompt="a photo of dog", validation_prompts=["<<TOK>> at sea"])
    assert instance_text(config) == "a photo of zwx dog"
    assert validation_texts(config) == ["zwx dog at sea"]
    # The API moderates exactly what the trainer renders.
    moderated = training_prompts(
        "zwx", config.instance_prompt, config.class_prompt, config.validation_prompts
    )
    assert moderated == [instance_text(config), config.class_prompt, *validation_texts(config)]
    assert resolve_precision("bf16", "cpu") == torch.float32
    assert resolve_precision("no", "cuda") == torch.float32


def test_the_objective_min_snr_face_weights_and_the_final_loss(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Min-SNR and the face-weighted loss change the training (same seed); `final_loss` is the mean of
    the last 50 steps; the face mask is `weight` inside the box, 1 outside, mean 1."""
    from training_service.objective import face_masks, final_loss

    plain = dict(train_text_encoder=False, with_prior_preservation=False, max_train_steps=2)
    runs = {
        name: train_lora(
            tiny_model_dir,
            _images(2),
            _config(**plain, **extra),
            tmp_path / name,
            "cpu",
            face_boxes=[(0.5, 0.5, 0.5), None],
        )
        for name, extra in (
            ("mse", {"snr_gamma": None}),
            ("snr", {}),
            ("face", {"snr_gamma": None, "face_loss_weight": 3.0}),
        )
    }
    assert runs["mse"].losses != runs["snr"].losses
    assert runs["mse"].losses[0] != runs["face"].losses[0]  # image 0 has a face box
    assert runs["mse"].final_loss == pytest.approx(sum(runs["mse"].losses) / 2)
    assert final_loss([10.0] * 10 + [1.0] * 50) == 1.0 and math.isnan(final_loss([]))

    [mask, none] = face_masks([(0.5, 0.5, 0.5), None], torch.Size([8, 8]), 3.0, 2, "cpu")
    assert none is None and mask is not None and float(mask.mean()) == pytest.approx(1.0)
    assert float(mask[0, 0, 4, 4] / mask[0, 0, 0, 0]) == pytest.approx(3.0)  # inside vs outside
    assert int((mask > mask.min()).sum()) == 16  # the centre 4 × 4 of 8 × 8
    assert face_masks([(0.5, 0.5, 0.5)], torch.Size([8, 8]), None, 1, "cpu") == [None]
    with pytest.raises(ValueError, match="face_loss_weight needs face_crop"):
        _config(face_loss_weight=2.0, face_crop=False)
