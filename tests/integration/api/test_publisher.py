"""Issue 21 M1: the model publisher on moto — SageMaker's success notification → the staged adapter and
metadata checked, the archive rebuilt from the template and written to `models/*`; a hostile staging is
refused with its reason and nothing is published; a training is completed only once published."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from safetensors.numpy import save

from avatar_api.handlers import publisher
from avatar_api.handlers.status_events import lambda_handler as status_consumer
from avatar_api.lambda_context import LocalContext
from avatar_contract import keys
from avatar_contract.families import ARTIFACT_FAMILY_METADATA
from avatar_contract.names import Env, Triton
from avatar_contract.publishing import STAGED_ADAPTER, STAGED_METADATA
from avatar_runtime.artifact import USER_TEMPLATE, artifact_members
from tests.fixtures.api import SESSION, response_json
from tests.fixtures.api_backend import DATA_BUCKET, HOSTING_BUCKET, Api
from tests.integration.api.test_status_events import (
    ALICE_OWNER,
    complete,
    notification,
    sqs_event,
    submit,
    topic,
)

__all__ = ["topic"]

UNET = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"


@pytest.fixture(autouse=True)
def events_queue(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The status consumer's queue, where the publisher forwards each notification after its verdict."""
    url = SESSION.client("sqs").create_queue(QueueName="avatar-status-events")["QueueUrl"]
    monkeypatch.setenv(Env.DATA_BUCKET, DATA_BUCKET)
    monkeypatch.setenv(Env.HOSTING_BUCKET, HOSTING_BUCKET)
    monkeypatch.setenv(Env.STATUS_EVENTS_QUEUE_URL, url)
    publisher.buckets.cache_clear()
    publisher.events_queue.cache_clear()
    yield url
    publisher.buckets.cache_clear()
    publisher.events_queue.cache_clear()


def forwarded(url: str) -> list[dict[str, Any]]:
    messages = SESSION.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def stage(api: Api, accepted: dict[str, Any], adapter: bytes | None = None, **metadata: Any) -> None:
    """What the training container stages: the adapter and its metadata."""
    tid, mid = accepted["training_id"], accepted["model_id"]
    document = {
        "model_id": mid, "training_id": tid, "owner": ALICE_OWNER, "token": "sks",
        "class_prompt": "a photo of person", "base_model_id": "random-sd", "lora_rank": 4,
        "text_encoder_lora_rank": 4, "created": "2026-12-07T00:00:00+00:00", **metadata,
    }  # fmt: skip
    if adapter is None:
        adapter = save({f"{UNET}.lora_A.weight": np.ones((4, 32), np.float32)})
    prefix = keys.staged_prefix(ALICE_OWNER, tid)
    api.s3.put_object(Bucket=DATA_BUCKET, Key=prefix + STAGED_ADAPTER, Body=adapter)
    api.s3.put_object(Bucket=DATA_BUCKET, Key=prefix + STAGED_METADATA, Body=json.dumps(document))


def run_publisher(message: dict[str, Any]) -> None:
    assert publisher.lambda_handler(sqs_event(message), LocalContext()) == {"batchItemFailures": []}


def status_of(api: Api, accepted: dict[str, Any]) -> dict[str, Any]:
    return response_json(api.call("GET", f"/trainings/{accepted['training_id']}"))


def test_a_staged_model_is_checked_rebuilt_and_published_then_the_training_completes(
    api: Api, topic: str, events_queue: str
):
    accepted, output, _ = submit(api)
    complete(api, accepted, output, published=False)
    stage(api, accepted, base_family="sdxl-base-1.0")
    message = notification(accepted, ALICE_OWNER, output)
    # The container succeeded, but nothing is published yet: still queued, and no event (retried).
    assert status_of(api, accepted)["status"] == "queued"
    with pytest.raises(BatchProcessingError):  # every record of the batch failed: SQS retries it
        status_consumer(sqs_event(message), LocalContext())

    run_publisher(message)
    assert forwarded(events_queue) == [message]  # the training event follows the verdict
    run_publisher(message)  # redelivered: nothing is published twice (the consumer is idempotent too)

    key = keys.model_key(ALICE_OWNER, accepted["model_id"])
    assert api.object_keys(HOSTING_BUCKET) == [key]
    blob = api.s3.get_object(Bucket=HOSTING_BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        mid = accepted["model_id"]
        assert set(tar.getnames()) == artifact_members(mid)
        config = tar.extractfile(f"{mid}/{Triton.CONFIG_FILE}").read()  # type: ignore[union-attr]
        metadata = json.load(tar.extractfile(f"{mid}/1/{Triton.METADATA_FILE}"))  # type: ignore[arg-type]
    assert config == (USER_TEMPLATE / Triton.CONFIG_FILE).read_bytes()
    assert metadata["token"] == "sks" and metadata["adapter_format"] == "diffusers"
    assert metadata["base_family"] == "sdxl-base-1.0"  # and on the object, for the API's HeadObject
    head = api.s3.head_object(Bucket=HOSTING_BUCKET, Key=key)
    assert head["Metadata"] == {ARTIFACT_FAMILY_METADATA: "sdxl-base-1.0"}
    staged = keys.staged_prefix(ALICE_OWNER, accepted["training_id"])
    assert not [k for k in api.object_keys() if k.startswith(staged)]
    assert status_of(api, accepted)["status"] == "completed"
    assert status_consumer(sqs_event(message), LocalContext()) == {"batchItemFailures": []}


HOSTILE = {
    "a header length past the file": (b"\xff" * 8 + b"{}", {}),
    "a tensor that is no LoRA factor": (save({"unet.conv_in.weight": np.ones((4, 4), np.float32)}), {}),
    "metadata naming another owner": (None, {"owner": "f" * 32}),
    "metadata with an extra field": (None, {"EXECUTION_ENV_PATH": "/x"}),
    "a rank other than the metadata's": (None, {"lora_rank": 8}),
}


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_a_hostile_staging_is_refused_with_its_reason_and_nothing_is_published(
    api: Api, topic: str, case: str
):
    accepted, output, _ = submit(api)
    complete(api, accepted, output, published=False)
    adapter, metadata = HOSTILE[case]
    stage(api, accepted, adapter, **metadata)

    message = notification(accepted, ALICE_OWNER, output)
    run_publisher(message)

    assert api.object_keys(HOSTING_BUCKET) == []
    assert status_consumer(sqs_event(message), LocalContext()) == {"batchItemFailures": []}  # failed event
    state = status_of(api, accepted)
    assert state["status"] == "failed" and state["reason"].startswith("the trained model was not published")


def test_nothing_staged_is_refused(api: Api, topic: str):
    accepted, output, _ = submit(api)
    complete(api, accepted, output, published=False)
    run_publisher(notification(accepted, ALICE_OWNER, output))
    assert api.object_keys(HOSTING_BUCKET) == []
    assert "staged no adapter" in status_of(api, accepted)["reason"]


def test_a_notification_naming_another_owners_input_publishes_nothing(
    api: Api, topic: str, events_queue: str
):
    accepted, output, _ = submit(api)
    stage(api, accepted)
    forged = notification(accepted, ALICE_OWNER, output)
    forged["requestParameters"]["inputLocation"] = f"s3://{DATA_BUCKET}/trainings/{'f' * 32}/x/input.tar.gz"
    run_publisher(forged)
    assert forwarded(events_queue) == []
    assert api.object_keys(HOSTING_BUCKET) == []
