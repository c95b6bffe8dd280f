"""SDXL through the training service end to end (tiny random-weight SDXL as the base): face crops with
their micro-conditioning, prior preservation with the S3 class-image cache, checkpoint selection,
previews, the staged model naming its family, and an adapter that loads into the SDXL pipeline."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from avatar_contract.families import FAMILY_KEY
from avatar_contract.keys import progress_key, staged_prefix
from avatar_contract.names import Prefix
from avatar_contract.publishing import STAGED_ADAPTER, STAGED_METADATA
from avatar_contract.training import TrainingResult
from avatar_runtime.rendering import load_pipeline
from tests.fixtures.training_samples import face_photos, tar_bytes, training_config, with_config
from tests.integration.training.conftest import DATA_BUCKET, HOSTING_BUCKET, RunningService, start
from training_service.service import TrainingService
from training_service.settings import Settings
from training_service.storage import S3Store

pytestmark = pytest.mark.slow


@pytest.fixture
def sdxl_running(aws: Any, settings: Settings, tiny_sdxl_model_dir: Path):
    settings = replace(settings, base_model=str(tiny_sdxl_model_dir))
    yield from start(TrainingService(settings, S3Store(aws)))


def _render(pipe: Any) -> torch.Tensor:
    generator = torch.Generator("cpu").manual_seed(7)
    out = pipe("a photo of sks person", height=64, width=64, num_inference_steps=2, generator=generator,
               output_type="pt")  # fmt: skip
    return out.images


def test_an_sdxl_training_stages_a_model_of_its_family(
    sdxl_running: RunningService, tiny_sdxl_model_dir: Path, tmp_path: Path
) -> None:
    config = training_config(HOSTING_BUCKET, DATA_BUCKET, max_train_steps=4, checkpoint_every_steps=2)
    reply = sdxl_running.post(tar_bytes(with_config(face_photos(8), config)))
    assert reply.status == 200, reply.body
    result = TrainingResult.model_validate(reply.body)
    assert result.metrics.steps == 4 and result.metrics.final_loss > 0
    assert [c.step for c in result.metrics.checkpoints] == [2, 4]  # both checkpoints rendered and scored
    assert len(result.metrics.preview_image_keys) == 2
    keys = sdxl_running.keys(DATA_BUCKET)
    assert any(k.startswith(Prefix.CLASS_IMAGES) for k in keys)  # rendered by SDXL, kept for the next one

    prefix = staged_prefix(config["owner"], config["training_id"])
    s3 = sdxl_running.s3
    metadata = json.loads(s3.get_object(Bucket=DATA_BUCKET, Key=prefix + STAGED_METADATA)["Body"].read())
    assert metadata[FAMILY_KEY] == "sdxl-base-1.0"
    adapter = tmp_path / "pytorch_lora_weights.safetensors"
    s3.download_file(DATA_BUCKET, prefix + STAGED_ADAPTER, str(adapter))
    prefixes = {key.split(".")[0] for key in load_file(adapter)}
    assert prefixes == {"unet", "text_encoder", "text_encoder_2"}  # train_text_encoder: both encoders

    pipe = load_pipeline(tiny_sdxl_model_dir, "cpu")
    before = _render(pipe)
    pipe.load_lora_weights(tmp_path, weight_name=adapter.name)
    assert (_render(pipe) - before).abs().max() > 1e-4


def test_a_config_validated_for_another_family_is_a_409(sdxl_running: RunningService) -> None:
    config = training_config(HOSTING_BUCKET, DATA_BUCKET, base_family="sd21-base", face_crop=False)
    reply = sdxl_running.post(tar_bytes(with_config(face_photos(8), config)))
    assert reply.status == 409, reply.body
    assert "'sd21-base'" in reply.body["reason"] and "'sdxl-base-1.0'" in reply.body["reason"]
    assert sdxl_running.keys(DATA_BUCKET) == [progress_key(config["owner"], config["training_id"])]
