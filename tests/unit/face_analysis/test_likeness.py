"""Likeness of rendered images to the selfies' identity, on real portraits; a faceless image is never
a match."""

from __future__ import annotations

import pytest

from face_analysis.likeness import SAME_PERSON_SIMILARITY, score
from face_analysis.screening import screen
from tests.fixtures.faces import astronaut, faceless, grace_hopper, selfies


@pytest.fixture(scope="module")
def astronaut_set():
    return screen(selfies("astronaut", 8, seed=4))


def test_the_same_person_scores_above_the_threshold_and_another_below(astronaut_set) -> None:
    assert astronaut_set.identity is not None and SAME_PERSON_SIMILARITY == 0.4
    coffee = faceless()["coffee.jpg"]
    likeness = score([astronaut(), grace_hopper(), coffee], astronaut_set.identity)
    same, other, nothing = likeness.scores
    assert same is not None and same > 0.4 and other is not None and other < 0.4 and nothing is None
    assert likeness.median == pytest.approx((same + other) / 2, abs=1e-4)
