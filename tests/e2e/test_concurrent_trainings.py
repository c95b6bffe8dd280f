"""Twelve trainings submitted at once: the two faceless sets refused at submission (422), the ten others
all queued and all completed; none lost, none reported twice, each notification routed by its own
training id."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from avatar_client.client import AvatarApiError
from avatar_contract.multi_model import model_name_for
from local_cloud import LocalCloud
from local_cloud.selfies import make_faceless_images, make_selfies, to_jpeg
from tests.e2e.helpers import (
    FAST_TRAINING,
    NotificationInbox,
    client_for,
    running_cloud,
)

pytestmark = pytest.mark.slow
# One LoRA step and no previews: this test is about the queue, not the model.
QUEUE_TRAINING = {**FAST_TRAINING, "max_train_steps": 1, "validation_prompts": []}


@pytest.fixture(scope="module")
def cloud(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """This module's local cloud keeps at most one personal model loaded, to exercise eviction."""
    with running_cloud(
        tmp_path_factory.mktemp("local-cloud"), tiny_model_dir, max_loaded_models=1
    ) as local_cloud:
        yield local_cloud


@pytest.fixture(scope="module")
def finished(cloud: LocalCloud, inbox: NotificationInbox) -> list[tuple[int, dict[str, Any]]]:
    """Twelve submitted at once, by two owners; (submission number, 202 body) of the ten queued, once all
    finished."""

    selfies = [to_jpeg(i) for i in make_selfies(10)]
    faceless = [to_jpeg(i) for i in make_faceless_images(10)]
    # two of the twelve have no usable faces: refused at submission (422, screened by the trainings
    # function while the others queue), the ten others complete
    plans = [("faceless" if n in (3, 7) else "selfies") for n in range(12)]

    def submit(n: int) -> dict[str, Any]:
        images = faceless if plans[n] == "faceless" else selfies
        client = client_for(cloud, cloud.principals[n % 2])
        try:
            return client.start_training(
                images, model_name=f"queue-{n}", config=QUEUE_TRAINING, prepare=False
            )
        except AvatarApiError as error:
            return {"status": error.status, "code": error.code}

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(submit, range(12)))
    assert [a["code"] for n, a in enumerate(answers) if plans[n] == "faceless"] == [
        "not_enough_usable_images"
    ] * 2
    accepted = [(n, a) for n, a in enumerate(answers) if plans[n] == "selfies"]
    assert all(a["status"] == "queued" for _, a in accepted)
    assert len({a["training_id"] for _, a in accepted}) == 10
    # Ten trainings one after another on one training container, beside the other test worker: a bound
    # that catches a lost or stuck training, not a speed target (that is `make bench`'s).
    inbox.wait_for_all([a["training_id"] for _, a in accepted], timeout=480)
    return [(n, {**a, "plan": plans[n]}) for n, a in accepted]


def test_ten_trainings_at_once_all_finish(
    cloud: LocalCloud, inbox: NotificationInbox, finished: list[tuple[int, dict[str, Any]]]
) -> None:
    for n, accepted in finished:
        notifications = inbox.received[accepted["training_id"]]
        assert len(notifications) == 1, f"{accepted['training_id']} notified {len(notifications)} times"
        _, raw = notifications[0]
        # completed once the model publisher published it (issue 21 M1)
        status = client_for(cloud, cloud.principals[n % 2]).wait_for_training(
            accepted["training_id"], timeout=120, poll_interval=0.5
        )
        owner = cloud.owner_id(cloud.principals[n % 2])
        key = f"{cloud.settings.models_prefix}{owner}/{accepted['model_id']}.tar.gz"
        listing = cloud.client("s3").list_objects_v2(Bucket=cloud.settings.hosting_bucket, Prefix=key)
        assert raw["invocationStatus"] == "Completed", raw.get("failureReason")
        assert status["status"] == "completed"
        assert listing.get("KeyCount", 0) == 1
    assert set(inbox.received) == {a["training_id"] for _, a in finished}  # nothing else, nothing lost


def test_multi_model_endpoint_evicts_least_recently_used_model(
    cloud: LocalCloud, finished: list[tuple[int, dict[str, Any]]]
) -> None:
    owner = cloud.owner_id(cloud.principals[0])
    completed = [a for n, a in finished if n % 2 == 0 and a["plan"] == "selfies"][:2]
    client = client_for(cloud, cloud.principals[0])
    host = None
    for accepted in completed:
        images = client.generate(accepted["model_id"], "a photo of <<TOK>>", width=64, height=64,
                                 num_inference_steps=1, seed=1).images  # fmt: skip
        assert len(images) == 1
        host = cloud.runtime.host(cloud.settings.hosting_endpoint)
        assert host.loaded_models() == [f"{owner}/{accepted['model_id']}.tar.gz"]

    # Triton itself was told to unload the first model (SageMaker's DELETE /models/<name>); its
    # GET /models/<name> answers 404 for a model it does not hold
    def triton_holds(target_model: str) -> bool:
        url = f"{host.container_url}/models/{model_name_for(target_model)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return json.loads(response.read()).get("modelName") == model_name_for(target_model)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return False
            raise

    assert triton_holds(f"{owner}/{completed[1]['model_id']}.tar.gz")
    assert not triton_holds(f"{owner}/{completed[0]['model_id']}.tar.gz")

    # if the container loses a model behind the host's back, the next call reloads it transparently
    lost = f"{owner}/{completed[1]['model_id']}.tar.gz"
    request = urllib.request.Request(
        f"{host.container_url}/models/{model_name_for(lost)}",
        method="DELETE",
        headers={"X-Amzn-SageMaker-Target-Model": lost},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status == 200
    assert not triton_holds(lost)
    again = client.generate(completed[1]["model_id"], "a photo of <<TOK>>", width=64, height=64,
                            num_inference_steps=1, seed=2)  # fmt: skip
    assert len(again.images) == 1
    assert triton_holds(lost)
