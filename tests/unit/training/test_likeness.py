"""The training's likeness gate (`min_identity_similarity`) on real portraits; previews without a
face (the tiny model's) never pass it."""

from __future__ import annotations

import pytest
from PIL import Image

from face_analysis.screening import screen
from tests.fixtures.faces import astronaut, grace_hopper, selfies
from training_service.likeness import NotLikeTheSelfies, score_previews


@pytest.fixture(scope="module")
def astronaut_set():
    return screen(selfies("astronaut", 8, seed=4))


def test_the_gate_fails_the_training_with_the_scores_and_is_off_by_default(astronaut_set) -> None:
    noise = Image.effect_noise((256, 256), 40).convert("RGB")  # like the tiny model's previews: no face
    assert score_previews([noise], astronaut_set, None).scores == [None]
    with pytest.raises(NotLikeTheSelfies, match=r"median identity similarity None .*\[None\]"):
        score_previews([noise], astronaut_set, 0.4)
    passed = score_previews([astronaut()], astronaut_set, 0.4)
    assert passed is not None and passed.median is not None and passed.median > 0.4
    with pytest.raises(NotLikeTheSelfies):
        score_previews([grace_hopper()], astronaut_set, 0.4)
    assert score_previews([astronaut()], None, 0.4) is None  # face_crop off: nothing to compare with
