"""Pack jobs on moto (docs/packs.md): POST /models/{id}/packs queues one SQS work item per image, the pack
runner's Lambda handler consumes them (through the local cloud's SQS event source, so receive counts,
visibility and partial batch failures are SQS's), GET answers per-image status and presigned URLs,
cancel stops the rest, events and signed webhooks go out per image and at the end, and DELETE /models
erases the job."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from avatar_api.adapters.messaging import EventsTopic, WorkQueue
from avatar_api.adapters.webhooks import WebhookSender
from avatar_api.domain import pack_runner
from avatar_api.domain.pack_runner import RetryLater
from avatar_api.handlers.pack_runner import lambda_handler as runner_handler
from avatar_api.lambda_context import LocalContext
from avatar_api.services import get_services
from avatar_client import verify_webhook
from avatar_contract import keys
from avatar_contract.pack_jobs import PackWorkItem
from local_cloud.event_source import SqsEventSource
from tests.fixtures.api import ALICE, BOB, SESSION, header, owner_id, png, response_json
from tests.fixtures.api_backend import DATA_BUCKET, Api
from tests.fixtures.moderation import StubbedModeration, ready_model

OWNER = owner_id(ALICE)
HOOK = "https://hooks.example.com/packs"
INLINE = {
    "prompts": [
        {"prompt": "<<TOK>> as an astronaut", "images": 1},
        {"prompt": "<<TOK>> as an oil portrait", "images": 1},
        {"prompt": "<<TOK>> in a business suit", "images": 1},
    ],
    "seed": 100,
    "webhook_url": HOOK,
}


@dataclass(frozen=True)
class RecordingSender(WebhookSender):
    """Keeps what would be POSTed and answers 200 (the delivery itself is test_webhooks.py's)."""

    sent: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def post(self, url: str, body: bytes, headers: Any) -> int:
        self.sent.append((url, body, dict(headers)))
        return 200


@dataclass
class RunnerFunction:
    """The pack runner as the event source invokes it."""

    name: str = "pack-runner"
    timeout: float = 120.0
    responses: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, event: dict[str, Any]) -> Any:
        response = runner_handler(event, LocalContext())
        self.responses.append(response)
        return response


@dataclass
class Packs:
    api: Api
    queue_url: str
    events_url: str
    sender: RecordingSender
    function: RunnerFunction
    source: SqsEventSource

    def start(
        self, body: dict[str, Any], model_id: str, *, user: str = ALICE, key: str | None = None
    ) -> dict:
        headers = {"Idempotency-Key": key} if key else None
        return self.api.call("POST", f"/models/{model_id}/packs", body, user=user, headers=headers)

    def get(self, model_id: str, job_id: str, user: str = ALICE) -> dict:
        return self.api.call("GET", f"/models/{model_id}/packs/{job_id}", user=user)

    def run(self, batches: int) -> None:
        for _ in range(batches):
            assert self.source.poll_once() == 1

    def waiting(self) -> int:
        attributes = self.api_sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    @property
    def api_sqs(self) -> Any:
        return self.source.sqs

    def events(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        found = []
        while True:
            messages = self.api_sqs.receive_message(
                QueueUrl=self.events_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                envelope = json.loads(message["Body"])
                attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
                found.append((json.loads(envelope["Message"]), attributes))
                self.api_sqs.delete_message(QueueUrl=self.events_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def packs(api: Api) -> Iterator[Packs]:
    sqs, sns = SESSION.client("sqs"), SESSION.client("sns")
    queue_url = sqs.create_queue(QueueName="avatar-pack-work", Attributes={"VisibilityTimeout": "720"})[
        "QueueUrl"
    ]
    events_url = sqs.create_queue(QueueName="avatar-events-tap")["QueueUrl"]
    topic_arn = sns.create_topic(Name="avatar-training-events")["TopicArn"]
    events_arn = sqs.get_queue_attributes(QueueUrl=events_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=events_arn)
    services = get_services()
    services.pack_queue = WorkQueue(queue_url, sqs)
    services.events = EventsTopic(topic_arn, sns)
    sender = RecordingSender()
    services.webhooks = sender
    services.quotas.limits = dataclasses.replace(services.quotas.limits, pack_jobs_in_flight=50)
    function = RunnerFunction()
    source = SqsEventSource(sqs, queue_url, function, "us-east-1", batch_size=1, wait_seconds=0)
    yield Packs(api, queue_url, events_url, sender, function, source)


def test_a_job_renders_every_image_with_events_and_signed_webhooks(api: Api, packs: Packs) -> None:
    model_id = ready_model(api, OWNER)

    started = packs.start(INLINE, model_id)

    assert started["statusCode"] == 202, started["body"]
    job = response_json(started)
    assert job["status"] == "queued" and job["total"] == 3 and job["done"] == 0 and job["seed"] == 100
    assert [image["status"] for image in job["images"]] == ["pending"] * 3
    assert header(started, "Location") == f"/models/{model_id}/packs/{job['job_id']}"
    assert packs.waiting() == 3  # one work item per image
    for seed in range(3):
        api.hosting.queue_images([png(seed=seed)])

    packs.run(3)

    done = response_json(packs.get(model_id, job["job_id"]))
    assert done["status"] == "succeeded" and (done["done"], done["succeeded"]) == (3, 3)
    assert [image["prompt_index"] for image in done["images"]] == [0, 1, 2]
    assert all(image["url"].startswith("https://") for image in done["images"])
    invocations = [params for name, params in api.hosting.calls if name == "InvokeEndpoint"]
    assert {params["TargetModel"] for params in invocations} == {keys.target_model(OWNER, model_id)}
    sent_args = [json.loads(json.loads(p["Body"])["inputs"][2]["data"][0]) for p in invocations]
    assert [args["seed"] for args in sent_args] == [100, 101, 102]
    assert {args["output_format"] for args in sent_args} == {"png"}
    stored = api.object_keys()
    prefix = keys.pack_job_prefix(OWNER, model_id, job["job_id"])
    assert {f"{prefix}{i}.png" for i in range(3)} <= set(stored)

    events = packs.events()
    kinds = sorted((event["type"], event["status"]) for event, _ in events)
    assert kinds == [("pack.completed", "succeeded")] + [("pack.image", "succeeded")] * 3
    assert all(
        attrs == {"owner": OWNER, "status": event["status"], "kind": "pack"} for event, attrs in events
    )
    secret = response_json(api.call("GET", "/webhooks/secret"))["secret"]
    assert len(packs.sender.sent) == 4
    for url, body, headers in packs.sender.sent:
        assert url == HOOK and verify_webhook(secret, headers, body)
    assert json.loads(packs.sender.sent[-1][1])["type"] == "pack.completed"
    # The job's slot is free again: as many jobs in flight as allowed can start.
    get_services().quotas.limits = dataclasses.replace(get_services().quotas.limits, pack_jobs_in_flight=1)
    assert packs.start(INLINE, model_id)["statusCode"] == 202


def test_a_blocked_and_a_failed_image_do_not_fail_the_job(api: Api, packs: Packs) -> None:
    moderation = StubbedModeration()
    get_services().moderation = moderation.moderator
    model_id = ready_model(api, OWNER)
    moderation.queue_deny_list("# none\n")
    moderation.queue_scores({}, {}, {})
    job = response_json(packs.start(INLINE, model_id))
    api.hosting.queue_images([png(seed=1)])
    moderation.queue_labels(("Explicit", "", 99.1), ("Explicit Nudity", "Explicit", 98.0))
    api.hosting.queue_error("invoke_endpoint", "ValidationError", 400, "bad input")
    api.hosting.queue_images([png(seed=3)])
    moderation.queue_labels()

    packs.run(3)

    found = response_json(packs.get(model_id, job["job_id"]))
    assert found["status"] == "partial"
    assert (found["succeeded"], found["blocked"], found["failed"], found["done"]) == (1, 1, 1, 3)
    blocked, failed, delivered = found["images"]
    assert blocked["status"] == "blocked" and blocked["url"] is None
    assert blocked["labels"] == ["Explicit", "Explicit Nudity"]
    assert failed["status"] == "failed" and "ValidationError" in failed["error"] and failed["url"] is None
    assert delivered["status"] == "succeeded" and delivered["url"]
    prefix = keys.pack_job_prefix(OWNER, model_id, job["job_id"])
    assert f"{prefix}0.png" not in api.object_keys()  # never stored
    assert all(
        response is not None and not response["batchItemFailures"] for response in packs.function.responses
    )
    moderation.rekognition.assert_no_pending_responses()


def test_model_loading_delays_the_item_then_fails_it_on_its_last_receive(api: Api, packs: Packs) -> None:
    model_id = ready_model(api, OWNER)
    job = response_json(packs.start({**INLINE, "prompts": INLINE["prompts"][:1]}, model_id))
    api.hosting.queue_error("invoke_endpoint", "ModelNotReadyException", 429, "loading")

    packs.run(1)

    assert len(packs.function.responses[-1]["batchItemFailures"]) == 1  # a partial batch failure
    assert packs.source.poll_once() == 0  # delayed: not visible again yet
    assert packs.waiting() == 1
    item = PackWorkItem(owner=OWNER, model_id=model_id, job_id=job["job_id"], index=0)
    api.hosting.queue_error("invoke_endpoint", "ThrottlingException", 400, "slow down")
    with pytest.raises(RetryLater) as later:
        pack_runner.handle_item(get_services(), item, receive_count=3)
    assert later.value.seconds == 40  # 10 s doubling per receive
    api.hosting.queue_error("invoke_endpoint", "ModelNotReadyException", 429, "loading")
    assert pack_runner.handle_item(get_services(), item, receive_count=8) == "failed"
    found = response_json(packs.get(model_id, job["job_id"]))
    assert found["status"] == "failed" and "after 8 attempts" in found["images"][0]["error"]


def test_cancel_stops_the_remaining_images(api: Api, packs: Packs) -> None:
    model_id = ready_model(api, OWNER)
    job = response_json(packs.start(INLINE, model_id))
    api.hosting.queue_images([png(seed=1)])
    packs.run(1)

    cancelled = api.call("POST", f"/models/{model_id}/packs/{job['job_id']}/cancel")

    assert cancelled["statusCode"] == 200, cancelled["body"]
    answer = response_json(cancelled)
    assert answer["status"] == "cancelled" and (answer["succeeded"], answer["cancelled"], answer["done"]) == (
        1,
        2,
        3,
    )
    assert [image["status"] for image in answer["images"]] == ["succeeded", "cancelled", "cancelled"]
    packs.run(3)  # two skipped images and the cancellation's announcement: nothing reaches the endpoint
    assert len([name for name, _ in api.hosting.calls if name == "InvokeEndpoint"]) == 1
    assert packs.waiting() == 0
    completed = [event for event, _ in packs.events() if event["type"] == "pack.completed"]
    assert [(e["status"], e["cancelled"]) for e in completed] == [("cancelled", 2)]
    again = api.call("POST", f"/models/{model_id}/packs/{job['job_id']}/cancel")
    assert again["statusCode"] == 200 and response_json(again)["status"] == "cancelled"


def test_cancelling_a_finished_job_is_409(api: Api, packs: Packs) -> None:
    model_id = ready_model(api, OWNER)
    job = response_json(packs.start({**INLINE, "prompts": INLINE["prompts"][:1]}, model_id))
    api.hosting.queue_images([png(seed=1)])
    packs.run(1)
    response = api.call("POST", f"/models/{model_id}/packs/{job['job_id']}/cancel")
    assert response["statusCode"] == 409 and response_json(response)["error"]["code"] == "job_finished"


def test_idempotency_key_replays_the_same_job(api: Api, packs: Packs) -> None:
    model_id = ready_model(api, OWNER)
    first = response_json(packs.start(INLINE, model_id, key="pack-1"))
    again = packs.start(INLINE, model_id, key="pack-1")
    assert again["statusCode"] == 202
    assert response_json(again)["job_id"] == first["job_id"] and response_json(again)["replayed"] is True
    assert packs.waiting() == 3  # nothing new queued
    other = packs.start({**INLINE, "seed": 5}, model_id, key="pack-1")
    assert other["statusCode"] == 422 and response_json(other)["error"]["code"] == "idempotency_key_reused"


def test_jobs_in_flight_and_cost_quotas_are_429(api: Api, packs: Packs) -> None:
    services = get_services()
    model_id = ready_model(api, OWNER)
    services.quotas.limits = dataclasses.replace(services.quotas.limits, pack_jobs_in_flight=1)
    assert packs.start(INLINE, model_id)["statusCode"] == 202
    refused = packs.start(INLINE, model_id)
    assert refused["statusCode"] == 429 and header(refused, "Retry-After")
    assert "pack job(s) per owner at a time" in response_json(refused)["error"]["message"]
    assert packs.waiting() == 3

    # Cost: 3 images of 512x512 x 25 steps = 19.7M pixel-steps; the hour's budget (30M) fits one such job.
    services.quotas.limits = dataclasses.replace(
        services.quotas.limits, pack_jobs_in_flight=50, generation_gpu_seconds_per_minute=0.5
    )
    services.hosting_instance_type = "ml.g4dn.xlarge"  # 1e6 pixel-steps/s: 30M per hour
    assert packs.start(INLINE, model_id)["statusCode"] == 202
    over = packs.start(INLINE, model_id)
    assert over["statusCode"] == 429 and "pixel-steps" in response_json(over)["error"]["message"]
    too_big = packs.start({**INLINE, "images_per_prompt": 3}, model_id)
    assert too_big["statusCode"] == 400 and "per hour" in response_json(too_big)["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"pack": "no-such-pack"}, 404, "pack_not_found"),
        ({"pack": "astronaut", "prompts": INLINE["prompts"]}, 400, "invalid_request"),
        ({}, 400, "invalid_request"),
        ({"prompts": [{"prompt": "no token here"}]}, 400, "invalid_request"),
        ({"prompts": [{"prompt": "<<TOK>>", "images": 16}] * 7}, 400, "invalid_request"),
        ({"pack": "astronaut", "webhook_url": "http://hooks.example.com/"}, 400, "invalid_request"),
    ],
    ids=["unknown-pack", "both", "neither", "no-token", "over-100-images", "http-webhook"],
)
def test_bad_requests_queue_nothing(api: Api, packs: Packs, body: dict, status: int, code: str) -> None:
    model_id = ready_model(api, OWNER)
    response = packs.start(body, model_id)
    assert response["statusCode"] == status, response["body"]
    assert response_json(response)["error"]["code"] == code
    assert packs.waiting() == 0


def test_the_model_must_be_the_callers_and_ready(api: Api, packs: Packs) -> None:
    model_id = ready_model(api, OWNER)
    for user, model in ((BOB, model_id), (ALICE, keys.new_model_id())):
        response = packs.start({"pack": "astronaut"}, model, user=user)
        assert response["statusCode"] == 404 and response_json(response)["error"]["code"] == "model_not_found"
    job = response_json(packs.start({"pack": "astronaut"}, model_id))
    assert job["total"] == 12 and job["pack"] == "astronaut"
    assert packs.get(model_id, job["job_id"], user=BOB)["statusCode"] == 404


def test_an_inline_prompt_is_moderated_as_rendered(api: Api, packs: Packs) -> None:
    moderation = StubbedModeration()
    get_services().moderation = moderation.moderator
    model_id = ready_model(api, OWNER, token="wud")
    moderation.queue_deny_list("/\\bwud person\\b/\n")  # matches only the rendered prompt
    response = packs.start(INLINE, model_id)
    assert response["statusCode"] == 422 and response_json(response)["error"]["code"] == "content_blocked"
    assert packs.waiting() == 0


def test_jobs_are_listed_newest_first_in_pages(api: Api, packs: Packs) -> None:
    model_id = ready_model(api, OWNER)
    ids = [response_json(packs.start(INLINE, model_id))["job_id"] for _ in range(3)]
    first = response_json(api.call("GET", f"/models/{model_id}/packs?limit=2"))
    assert [job["job_id"] for job in first["jobs"]] == ids[::-1][:2] and first["next_token"]
    second = response_json(
        api.call("GET", f"/models/{model_id}/packs?limit=2&next_token={first['next_token']}")
    )
    assert [job["job_id"] for job in second["jobs"]] == [ids[0]] and second["next_token"] is None
    assert second["jobs"][0]["status"] == "queued" and second["jobs"][0]["images"] == []
    assert (
        response_json(api.call("GET", f"/models/{model_id}/packs", user=BOB))["error"]["code"]
        == "model_not_found"
    )


def test_deleting_the_model_erases_its_pack_jobs(api: Api, packs: Packs) -> None:
    model_id = ready_model(api, OWNER)
    job = response_json(packs.start(INLINE, model_id))
    api.hosting.queue_images([png(seed=1)])
    packs.run(1)
    prefix = keys.pack_job_prefix(OWNER, model_id, job["job_id"])
    assert any(key.startswith(prefix) and key.endswith(".png") for key in api.object_keys())
    assert api.call("DELETE", f"/models/{model_id}")["statusCode"] == 200

    assert not [
        key for key in api.object_keys(DATA_BUCKET) if key.startswith(keys.packs_prefix(OWNER, model_id))
    ]
    packs.run(2)  # the job's remaining items find no job: dropped, nothing stored again
    assert packs.waiting() == 0
    assert not [key for key in api.object_keys(DATA_BUCKET) if key.startswith(prefix)]
