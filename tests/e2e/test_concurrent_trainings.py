"""Ten trainings submitted at once: all queued, all finished (completed, or failed with a reason); none
lost, none reported twice, each notification routed by its own training id."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from avatar_contract.keys import owner_of
from local_cloud import LocalCloud
from local_cloud.selfies import make_faceless_images, make_selfies, to_jpeg
from tests.e2e.helpers import FAST_TRAINING, NotificationInbox, client_for

pytestmark = pytest.mark.slow
# One LoRA step and no previews: this test is about the queue, not the model.
QUEUE_TRAINING = {**FAST_TRAINING, "max_train_steps": 1, "validation_prompts": []}


def test_ten_trainings_at_once_all_finish(cloud: LocalCloud, inbox: NotificationInbox) -> None:
    selfies = [to_jpeg(i) for i in make_selfies(10)]
    faceless = [to_jpeg(i) for i in make_faceless_images(10)]
    # two of the ten have no usable faces: they must fail with a reason, the others complete
    plan = [("faceless" if n in (3, 7) else "selfies") for n in range(10)]
    clients = [client_for(cloud, cloud.principals[n % 2]) for n in range(10)]

    def submit(n: int) -> dict[str, Any]:
        images = faceless if plan[n] == "faceless" else selfies
        return clients[n].start_training(
            images, model_name=f"queue-{n}", config=QUEUE_TRAINING, prepare=False
        )

    with ThreadPoolExecutor(10) as pool:
        accepted = list(pool.map(submit, range(10)))
    assert all(a["status"] == "queued" for a in accepted)
    training_ids = [a["training_id"] for a in accepted]
    assert len(set(training_ids)) == 10

    inbox.wait_for_all(training_ids, timeout=170)
    for n, a in enumerate(accepted):
        notifications = inbox.received[a["training_id"]]
        assert len(notifications) == 1, f"{a['training_id']} notified {len(notifications)} times"
        _, raw = notifications[0]
        status = clients[n].get_training(a["training_id"])
        owner = owner_of(cloud.principals[n % 2].arn)
        key = f"{cloud.settings.models_prefix}{owner}/{a['model_id']}.tar.gz"
        listing = cloud.client("s3").list_objects_v2(Bucket=cloud.settings.hosting_bucket, Prefix=key)
        if plan[n] == "faceless":
            assert raw["invocationStatus"] == "Failed" and raw["failureReason"]
            assert status["status"] == "failed" and status["reason"]
            assert listing.get("KeyCount", 0) == 0
        else:
            assert raw["invocationStatus"] == "Completed", raw.get("failureReason")
            assert status["status"] == "completed"
            assert listing.get("KeyCount", 0) == 1
    assert set(inbox.received) == set(training_ids)  # nothing else, nothing lost
