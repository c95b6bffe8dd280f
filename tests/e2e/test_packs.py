"""Pack jobs through the local cloud (docs/packs.md, issue 25): a pack of 9 images over 3 prompts runs in
the background on the tiny model and completes with its events; an image the moderation stand-in flags
is withheld and the rest delivered; an interactive generation is served while a pack runs; cancelling
stops the remaining work; deleting the model erases the pack's images. One model, one local cloud. The
pack's signed webhooks (one per image, one at the end) go to the local cloud's webhook sink, the stand-in
for a receiver's HTTPS endpoint (local_cloud/webhook_sink.py), and are verified with the owner's secret."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from avatar_client.client import AvatarClient
from avatar_client.webhooks import verify_webhook
from avatar_contract import keys
from avatar_contract.pack_jobs import PackJobStatus
from local_cloud import LocalCloud
from local_cloud.selfies import make_selfies, to_jpeg
from tests.e2e.helpers import FAST_TRAINING, NotificationInbox, client_for

pytestmark = pytest.mark.slow
GEN = {"num_inference_steps": 2, "width": 64, "height": 64}
PROMPTS = ["a photo of <<TOK>> as an astronaut", "an oil portrait of <<TOK>>", "<<TOK>> in a business suit"]
SEED = 321


class PackEvents:
    """An app's queue on the events topic, filtered to one owner's pack events (docs/events.md)."""

    def __init__(self, cloud: LocalCloud, owner: str) -> None:
        self.sqs = cloud.client("sqs")
        self.url = self.sqs.create_queue(QueueName="e2e-pack-events")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]
        cloud.client("sns").subscribe(
            TopicArn=cloud.events_topic_arn,
            Protocol="sqs",
            Endpoint=arn["QueueArn"],
            Attributes={
                "RawMessageDelivery": "true",
                "FilterPolicy": json.dumps({"owner": [owner], "kind": ["pack"]}),
            },
        )
        self.received: list[tuple[dict[str, Any], dict[str, str]]] = []

    def of(self, job_id: str, wait_for: str, timeout: float = 120) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not any(e["job_id"] == job_id and e["type"] == wait_for for e, _ in self.received):
            assert time.monotonic() < deadline, f"no {wait_for} event of {job_id}"
            for message in self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=2, MessageAttributeNames=["All"]
            ).get("Messages", []):
                attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
                self.received.append((json.loads(message["Body"]), attributes))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return [e for e, _ in self.received if e["job_id"] == job_id]


@pytest.fixture(scope="module")
def client(cloud: LocalCloud) -> AvatarClient:
    return client_for(cloud, cloud.principals[0])


@pytest.fixture(scope="module")
def model_id(client: AvatarClient, inbox: NotificationInbox) -> str:
    accepted = client.start_training(
        [to_jpeg(i) for i in make_selfies(10)], model_name="packs", config=FAST_TRAINING, prepare=False
    )
    notification, _ = inbox.wait_for(accepted["training_id"])
    assert notification.status == "completed"
    return str(accepted["model_id"])


def _pack(images_per_prompt: int, seed: int = SEED) -> dict[str, Any]:
    return {
        "prompts": [{"prompt": prompt, "gen_args": GEN} for prompt in PROMPTS],
        "images_per_prompt": images_per_prompt,
        "seed": seed,
    }


def _wait(client: AvatarClient, model_id: str, job_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.request("GET", f"/models/{model_id}/packs/{job_id}")[1]
        if PackJobStatus(job["status"]).final:
            return job
        assert time.monotonic() < deadline, f"pack job {job_id} did not finish: {job['status']} {job['done']}"
        time.sleep(1)


def _settled(client: AvatarClient, model_id: str, job_id: str, timeout: float = 120) -> dict[str, Any]:
    """The job once two reads 3 s apart agree (however loaded the machine, an image in flight finishes)."""
    deadline = time.monotonic() + timeout
    before = client.request("GET", f"/models/{model_id}/packs/{job_id}")[1]
    while True:
        time.sleep(3)
        now = client.request("GET", f"/models/{model_id}/packs/{job_id}")[1]
        if now["succeeded"] == before["succeeded"] and now["done"] == before["done"]:
            return now
        assert time.monotonic() < deadline, f"pack {job_id} still changing after the cancel: {now}"
        before = now


def test_generation_is_served_during_a_pack_and_cancel_stops_the_rest(
    client: AvatarClient, model_id: str
) -> None:
    status, started = client.request("POST", f"/models/{model_id}/packs", _pack(16, seed=5))
    assert status == 202 and started["total"] == 48

    began = time.monotonic()
    generated = client.generate(model_id, "a photo of <<TOK>>", seed=1, **GEN)
    assert len(generated.images) == 1 and time.monotonic() - began < 27  # within the generation budget
    running = client.request("GET", f"/models/{model_id}/packs/{started['job_id']}")[1]
    assert running["done"] < running["total"]  # the pack was still running meanwhile

    status, cancelled = client.request("POST", f"/models/{model_id}/packs/{started['job_id']}/cancel", {})

    assert status == 200 and cancelled["status"] == "cancelled" and cancelled["cancelled"] > 0
    later = _settled(client, model_id, started["job_id"])
    # The local runner renders one image at a time: only the one in flight at the cancel may still finish.
    assert later["status"] == "cancelled" and later["succeeded"] <= cancelled["succeeded"] + 1 < 48
    assert later["cancelled"] == 48 - later["succeeded"] - later["blocked"] - later["failed"]


def test_a_pack_completes_with_its_events_a_flagged_image_withheld(
    cloud: LocalCloud, client: AvatarClient, model_id: str
) -> None:
    owner = cloud.owner_id(cloud.principals[0])
    events = PackEvents(cloud, owner)
    # Image 0 renders PROMPTS[0] with SEED: the same pixels as this generation, flagged by the stand-in.
    flagged = client.generate(model_id, PROMPTS[0], seed=SEED, output_format="png", **GEN).images[0]
    assert cloud.moderation is not None
    cloud.moderation.flag_image(flagged, "Explicit")

    sink = cloud.webhook_sink
    assert sink is not None
    hook = f"/packs/{owner[:8]}?token=t0k"
    status, started = client.request(
        "POST", f"/models/{model_id}/packs", {**_pack(3), "webhook_url": sink.url(hook)}
    )

    assert status == 202 and started["total"] == 9 and started["status"] == "queued"
    job = _wait(client, model_id, started["job_id"])
    assert job["status"] == "partial" and (job["succeeded"], job["blocked"], job["done"]) == (8, 1, 9)
    assert job["images"][0]["status"] == "blocked" and job["images"][0]["url"] is None
    assert job["images"][0]["labels"] == ["Explicit"]
    assert sorted({image["prompt_index"] for image in job["images"]}) == [0, 1, 2]
    delivered = [requests.get(image["url"], timeout=30) for image in job["images"][1:]]
    assert all(r.status_code == 200 and r.content.startswith(b"\x89PNG") for r in delivered)
    assert flagged not in {r.content for r in delivered}
    seen = events.of(started["job_id"], "pack.completed")
    assert sorted(e["index"] for e in seen if e["type"] == "pack.image") == list(range(9))
    (completed,) = [e for e in seen if e["type"] == "pack.completed"]
    assert completed["status"] == "partial" and completed["blocked"] == 1
    # The same events, signed, at the job's webhook: one per image and one at the end.
    hooks = sink.wait_for(lambda d: d.path == hook, 10)
    secret = client.webhook_secret()
    assert all(verify_webhook(secret, d.headers, d.body) for d in hooks)
    assert not any(verify_webhook("not-the-secret", d.headers, d.body) for d in hooks)
    posted = [json.loads(d.body) for d in hooks]
    assert sorted(e["index"] for e in posted if e["type"] == "pack.image") == list(range(9))
    assert [e for e in posted if e["type"] == "pack.completed"] == [completed]

    # Deleting the model erases the pack: its record, results and images.
    assert client.delete_model(model_id)["deleted"] is True
    prefix = keys.packs_prefix(owner, model_id)
    left = cloud.client("s3").list_objects_v2(Bucket=cloud.settings.data_bucket, Prefix=prefix)
    assert left.get("KeyCount", 0) == 0
    assert requests.get(job["images"][1]["url"], timeout=30).status_code in (403, 404)
