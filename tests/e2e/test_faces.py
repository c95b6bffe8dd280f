"""Face screening through the local cloud (docs/faces.md), on real public-domain portraits: the dry run
names the intruders of a mixed set and stores nothing; the training of that set uses only the set's person
and reports the likeness of its previews (the tiny random model renders no face, so each preview scores
None: an honest "no face", never a fake match)."""

from __future__ import annotations

import pytest

from local_cloud import LocalCloud
from tests.e2e.helpers import FAST_TRAINING, NotificationInbox, client_for
from tests.fixtures.faces import encoded, selfies

pytestmark = pytest.mark.slow


def _mixed_set() -> list[bytes]:
    """Ten selfies of the astronaut with three of Grace Hopper among them (positions 2, 6 and 11)."""
    own = list(encoded(selfies("astronaut", 10, seed=3)).values())
    intruders = list(encoded(selfies("hopper", 3, seed=4)).values())
    mixed = own[:2] + intruders[:1] + own[2:5] + intruders[1:2] + own[5:9] + intruders[2:] + own[9:]
    assert len(mixed) == 13
    return mixed


def test_the_dry_run_names_the_intruders_and_starts_nothing(cloud: LocalCloud) -> None:
    client = client_for(cloud, cloud.principals[0])
    models_before = client.list_models()
    report = client.screen_selfies(_mixed_set(), prepare=False)
    refused = {verdict["index"]: verdict["reason"] for verdict in report["images"] if not verdict["usable"]}
    assert refused == {2: "different_person", 6: "different_person", 11: "different_person"}
    assert report["usable_images"] == 10 and report["would_train"] is True
    usable = [verdict for verdict in report["images"] if verdict["usable"]]
    assert all(verdict["crop_box"] for verdict in usable)
    assert client.list_models() == models_before  # nothing stored, nothing queued


def test_a_mixed_set_trains_on_its_person_and_scores_the_previews(
    cloud: LocalCloud, inbox: NotificationInbox
) -> None:
    client = client_for(cloud, cloud.principals[0])
    accepted = client.start_training(_mixed_set(), model_name="mixed", config=FAST_TRAINING, prepare=False)
    notification, _ = inbox.wait_for(accepted["training_id"])
    assert notification.status == "completed", notification
    status = client.get_training(accepted["training_id"])
    metrics = status["metrics"]
    assert metrics["usable_images"] == 10  # the three intruders were left out
    previews = len(status["preview_urls"])
    assert previews >= 1
    assert metrics["identity_similarity"] == [None] * previews
    assert metrics["identity_similarity_median"] is None
    # dlib's pairwise 0.6 applied from the centroid: 1 - sqrt(0.36 - r^2), r the kept selfies' spread
    assert 0.4 <= metrics["identity_similarity_threshold"] < 0.5
