"""The likeness defaults through the training service (tiny model, moto S3): the class-image set is
generated once and shared by trainings with different seeds; `<<TOK>>` renders the configured class noun
and the metadata carries it; a projected overrun stops the loop early and publishes the best checkpoint
so far instead of failing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from avatar_contract.keys import staged_prefix
from avatar_contract.names import Prefix
from avatar_contract.publishing import STAGED_ADAPTER, STAGED_METADATA
from avatar_contract.training import TrainingResult
from face_analysis.likeness import Likeness
from tests.fixtures.training_samples import face_photos, tar_bytes, training_config, with_config
from tests.integration.training.conftest import DATA_BUCKET, HOSTING_BUCKET, RunningService, start
from training_service import checkpoints, service
from training_service.service import TrainingService
from training_service.settings import Settings
from training_service.storage import S3Store

pytestmark = pytest.mark.slow


@pytest.fixture
def fresh(aws: Any, settings: Settings, tmp_path: Path) -> Iterator[RunningService]:
    """The service with an empty class-image cache of its own."""
    yield from start(TrainingService(replace(settings, cache_dir=tmp_path / "cache"), S3Store(aws)))


def _metadata(running: RunningService, config: dict[str, Any]) -> dict[str, Any]:
    """The metadata the training staged for the model publisher (issue 21 M1)."""
    key = staged_prefix(config["owner"], config["training_id"]) + STAGED_METADATA
    return json.loads(running.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read())


def test_class_images_are_generated_once_for_every_user_seed_and_tok_has_the_class_noun(
    fresh: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    generated: list[int] = []
    real = service.generate_class_images

    def counting(*args: Any, **kwargs: Any) -> list[Image.Image]:
        generated.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "generate_class_images", counting)
    lit = {"class_prompt": "a photo of a woman, natural light", "class_noun": "woman"}
    for seed in (1, 2):
        config = training_config(HOSTING_BUCKET, DATA_BUCKET, seed=seed, **lit)
        reply = fresh.post(tar_bytes(with_config(face_photos(10), config)))
        assert reply.status == 200, reply.body
        metadata = _metadata(fresh, config)
        assert metadata["class_noun"] == "woman"
        assert metadata["instance_prompt"] == "a photo of sks woman"  # not "a photo of sks light"

    assert generated == [2]  # once, for the first training: the second (another seed) read the cache
    sets = {key.split("/")[1] for key in fresh.keys(DATA_BUCKET) if key.startswith(Prefix.CLASS_IMAGES)}
    assert len(sets) == 1


def test_a_projected_overrun_publishes_the_best_checkpoint_so_far(
    running: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The projection's preview estimate (asked from step 2, the first checkpoint, on): nothing after
    # step 2, then more than the budget left.
    estimates = iter([0.0])
    monkeypatch.setattr(service, "render_seconds", lambda *args, **kwargs: next(estimates, 1e9))
    # A stand-in scorer preferring the step-2 checkpoint (the tiny model renders no faces).
    medians = iter([0.72, 0.31])

    def stand_in(images: list[Image.Image], identity: Any, spread: Any = None) -> Likeness:
        median = next(medians)
        return Likeness(scores=[median] * len(images), median=median)

    monkeypatch.setattr(checkpoints, "score", stand_in)
    config = training_config(HOSTING_BUCKET, DATA_BUCKET, checkpoint_every_steps=2)  # 2, 4, 6
    reply = running.post(tar_bytes(with_config(face_photos(10), config)))

    assert reply.status == 200, reply.body
    metrics = TrainingResult.model_validate(reply.body).metrics
    assert metrics.stopped_early and metrics.steps == 3
    assert [c.step for c in metrics.checkpoints] == [2, 3]  # the saved one and where the loop stopped
    assert metrics.checkpoint_step == 2 and metrics.identity_similarity_median == 0.72
    staged = staged_prefix(config["owner"], config["training_id"])
    assert staged + STAGED_ADAPTER in running.keys(DATA_BUCKET)  # the best checkpoint, for the publisher
