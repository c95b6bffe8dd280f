"""Checkpoint selection through the training service with the tiny model: the adapter is saved every K
steps, every checkpoint's previews are rendered and scored, and the kept checkpoint is what is published.
The tiny model renders no faces, so the honest run keeps the last checkpoint with null scores; a
stand-in scorer (never presented as a face match) shows that a better earlier checkpoint is published."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch
from PIL import Image
from safetensors.torch import load

from avatar_contract.keys import staged_prefix
from avatar_contract.publishing import STAGED_ADAPTER
from avatar_contract.training import TrainingResult
from face_analysis.likeness import Likeness
from tests.fixtures.training_samples import face_photos, tar_bytes, training_config, with_config
from tests.integration.training.conftest import DATA_BUCKET, HOSTING_BUCKET, RunningService
from training_service import checkpoints

pytestmark = pytest.mark.slow


def _train(running: RunningService) -> tuple[TrainingResult, dict[str, torch.Tensor], list[bytes]]:
    config = training_config(HOSTING_BUCKET, DATA_BUCKET, checkpoint_every_steps=2)  # steps 2, 4 and 6
    reply = running.post(tar_bytes(with_config(face_photos(10), config)))
    assert reply.status == 200, reply.body
    result = TrainingResult.model_validate(reply.body)
    staged = staged_prefix(config["owner"], config["training_id"]) + STAGED_ADAPTER  # for the publisher
    adapter = load(running.s3.get_object(Bucket=DATA_BUCKET, Key=staged)["Body"].read())
    previews = [
        running.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()
        for key in result.metrics.preview_image_keys
    ]
    return result, adapter, previews


def test_no_face_in_any_checkpoint_keeps_the_last_and_a_better_checkpoint_is_published(
    running: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    honest, last_adapter, last_previews = _train(running)

    metrics = honest.metrics
    assert metrics.steps == 6 and metrics.checkpoint_step == 6
    assert [(c.step, c.identity_similarity, c.identity_similarity_median) for c in metrics.checkpoints] == [
        (2, [None, None], None),  # one validation prompt, two seeds
        (4, [None, None], None),
        (6, [None, None], None),
    ]
    assert all(c.identity_similarity_mean is None and c.failures == 2 for c in metrics.checkpoints)
    assert metrics.identity_similarity == [None, None] and metrics.identity_similarity_median is None
    assert Image.open(io.BytesIO(last_previews[0])).size == (64, 64)

    # A stand-in scorer that prefers the second checkpoint (the real one finds no face in these).
    medians = iter([0.31, 0.72, 0.55])

    def stand_in(images: list[Image.Image], identity: Any, spread: Any = None) -> Likeness:
        median = next(medians)
        return Likeness(scores=[median] * len(images), median=median)

    monkeypatch.setattr(checkpoints, "score", stand_in)
    chosen, kept_adapter, kept_previews = _train(running)

    assert chosen.metrics.checkpoint_step == 4
    assert [c.identity_similarity_median for c in chosen.metrics.checkpoints] == [0.31, 0.72, 0.55]
    assert chosen.metrics.identity_similarity_median == 0.72
    # the same seeded training; the kept checkpoint's loss is the mean of its own last steps
    assert chosen.metrics.final_loss == honest.metrics.final_loss
    # What is published is the step-4 adapter and its previews, not the last step's.
    assert kept_adapter.keys() == last_adapter.keys()
    assert any(not torch.equal(kept_adapter[k], last_adapter[k]) for k in kept_adapter)
    assert kept_previews != last_previews
