"""The product's journey on the local cloud, with the real handlers, training service and Triton:
training -> SQS notification -> generation; a failing training; signatures; owner isolation."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import json
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from PIL import Image
from urllib3 import encode_multipart_formdata

from avatar_client.client import AvatarApiError, upload_form
from avatar_contract.keys import progress_key, split_s3_uri
from avatar_contract.progress import TrainingProgress
from local_cloud import LocalCloud
from local_cloud.aws import SERVICE_ACCESS_KEY_ID, SERVICE_SECRET_ACCESS_KEY
from local_cloud.selfies import make_faceless_images, make_selfies, to_jpeg
from tests.e2e.helpers import (
    FAST_TRAINING,
    EventQueue,
    NotificationInbox,
    client_for,
    sign,
    signed_call,
    training_slots,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def event_queues(cloud: LocalCloud) -> list[EventQueue]:
    """Each owner's app queue on the events topic (filtered on that owner), subscribed before any training."""
    return [EventQueue(cloud, cloud.owner_id(p), f"e2e-events-{n}") for n, p in enumerate(cloud.principals)]


@pytest.fixture(scope="module")
def trainings(cloud: LocalCloud, event_queues: list[EventQueue]) -> dict[str, dict[str, Any]]:
    """A good and a doomed training (the one the deletion test erases), submitted up front (they queue
    on the endpoint), and the refusal of a faceless set; no test depends on another having run first."""
    client = client_for(cloud, cloud.principals[0])
    good = client.start_training(
        [to_jpeg(i) for i in make_selfies(10)], model_name="e2e", config=FAST_TRAINING, prepare=False
    )
    held = {"good": f"slot:{good['training_id']}" in training_slots(cloud, cloud.principals[0])}
    with pytest.raises(AvatarApiError) as refused:  # screened at submission: never queued
        client.start_training(
            [to_jpeg(i) for i in make_faceless_images(10)],
            model_name="no-faces",
            config=FAST_TRAINING,
            prepare=False,
        )
    faceless = {"status": refused.value.status, "code": refused.value.code, "message": refused.value.message}
    doomed = client.start_training(
        [to_jpeg(i) for i in make_selfies(10)], model_name="doomed", config=FAST_TRAINING, prepare=False
    )
    return {"good": good, "faceless": faceless, "doomed": doomed, "slot_held_at_submission": held}


def _hosting_keys(cloud: LocalCloud, prefix: str) -> list[str]:
    listing = cloud.client("s3").list_objects_v2(Bucket=cloud.settings.hosting_bucket, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def test_training_completes_notifies_and_generates_pngs(
    cloud: LocalCloud, inbox: NotificationInbox, trainings: dict[str, dict[str, Any]]
) -> None:
    accepted = trainings["good"]
    assert accepted["status"] == "queued"
    notification, raw = inbox.wait_for(accepted["training_id"])

    assert raw["invocationStatus"] == "Completed"
    assert raw["inferenceId"] == accepted["training_id"]
    assert raw["eventSource"] == "aws:sagemaker" and raw["eventName"] == "InferenceResult"
    assert raw["requestParameters"]["inputLocation"].endswith(f"/{accepted['training_id']}/input.tar.gz")
    output_location = notification.response_parameters.output_location
    assert raw["responseParameters"]["outputLocation"] == output_location
    assert "failureReason" not in raw
    output_bucket, output_key = split_s3_uri(output_location or "")
    assert output_key.startswith(cloud.settings.async_output_prefix)
    result = json.loads(cloud.client("s3").get_object(Bucket=output_bucket, Key=output_key)["Body"].read())
    assert result["status"] == "completed" and result["model_id"] == accepted["model_id"]

    client = client_for(cloud, cloud.principals[0])
    # completed once the model publisher has checked and published the staged model (issue 21 M1)
    status = client.wait_for_training(accepted["training_id"], timeout=60, poll_interval=0.5)
    assert status["status"] == "completed"
    owner = cloud.owner_id(cloud.principals[0])
    model_key = f"{cloud.settings.models_prefix}{owner}/{accepted['model_id']}.tar.gz"
    assert _hosting_keys(cloud, model_key) == [model_key]
    # the training container (the same code as on SageMaker) wrote its progress up to the end
    written = cloud.client("s3").get_object(
        Bucket=cloud.settings.data_bucket, Key=progress_key(owner, accepted["training_id"])
    )
    progress = TrainingProgress.model_validate_json(written["Body"].read())
    assert progress.phase == "completed" and status.get("progress") is None
    assert progress.step == progress.total_steps == FAST_TRAINING["max_train_steps"]
    # every model the owner started training is listed with its status; the doomed one may already be
    # erased by its own test
    listed = {m["model_id"]: m["status"] for m in client.list_models()}
    assert set(listed) - {trainings["doomed"]["model_id"]} == {accepted["model_id"]}
    assert listed[accepted["model_id"]] == "completed"

    generated = client.generate(
        accepted["model_id"], "a photo of <<TOK>>", num_images=2, width=64, height=64,
        num_inference_steps=2, seed=7,
    )  # fmt: skip
    assert len(generated.images) == 2
    for data in generated.images:
        image = Image.open(io.BytesIO(data))
        assert image.format == "PNG" and image.size == (64, 64)
        image.verify()
    # the multi-model endpoint keeps the model loaded (cached) after the first call
    host = cloud.runtime.host(cloud.settings.hosting_endpoint)
    assert f"{owner}/{accepted['model_id']}.tar.gz" in host.loaded_models()


def test_the_training_event_reaches_only_its_owners_queue_and_frees_the_slot(
    cloud: LocalCloud, event_queues: list[EventQueue], trainings: dict[str, dict[str, Any]]
) -> None:
    accepted, owner = trainings["good"], cloud.owner_id(cloud.principals[0])
    event, attributes = event_queues[0].wait_for(accepted["training_id"])
    assert attributes == {"owner": owner, "status": "completed"}
    assert (event["owner"], event["status"], event["model_id"]) == (owner, "completed", accepted["model_id"])
    assert event["model_name"] == "e2e" and event["reason"] is None and event["event_id"]
    event_queues[1].poll()  # SNS delivered to every matching subscription at once
    assert accepted["training_id"] not in event_queues[1].received
    assert all(e["owner"] != owner for got in event_queues[1].received.values() for e, _ in got)
    # the owner's concurrency slot: taken at submission, given back by the status consumer
    assert trainings["slot_held_at_submission"]["good"]
    assert f"slot:{accepted['training_id']}" not in training_slots(cloud, cloud.principals[0])


def test_faceless_selfies_are_refused_at_submission_with_every_reason(
    cloud: LocalCloud, trainings: dict[str, dict[str, Any]]
) -> None:
    """The trainings function screens the faces (docs/faces.md): a set the training would refuse is
    refused before anything is queued or paid for, each image with its reason."""
    refused = trainings["faceless"]
    assert (refused["status"], refused["code"]) == (422, "not_enough_usable_images")
    assert refused["message"].startswith("0 usable image(s), at least")
    assert all(f"images[{n}]: no_face" in refused["message"] for n in range(10))
    owner = cloud.owner_id(cloud.principals[0])
    models = {m["name"] for m in client_for(cloud, cloud.principals[0]).list_models()}
    assert "no-faces" not in models
    assert all(
        "no-faces" not in key for key in _hosting_keys(cloud, f"{cloud.settings.models_prefix}{owner}/")
    )


def test_unsigned_request_is_refused_and_starts_nothing(cloud: LocalCloud) -> None:
    before = cloud.client("s3").list_objects_v2(Bucket=cloud.settings.data_bucket).get("KeyCount", 0)
    response = requests.post(
        cloud.api_url + "/trainings", json={"images": [{"data": "aGk="}] * 10}, timeout=30
    )
    assert response.status_code == 403
    assert response.json() == {
        "error": {"code": "MISSING_AUTHENTICATION_TOKEN", "message": "Missing Authentication Token"}
    }
    assert requests.get(cloud.api_url + "/models", timeout=30).status_code == 403
    after = cloud.client("s3").list_objects_v2(Bucket=cloud.settings.data_bucket).get("KeyCount", 0)
    assert after == before


@pytest.mark.parametrize(
    "tamper", ["body", "path", "query", "signed_header", "wrong_secret", "expired", "unknown_key"]
)
def test_tampered_or_forged_requests_are_refused(cloud: LocalCloud, tamper: str) -> None:
    principal = cloud.principals[0]
    url = cloud.api_url + "/models?limit=5"
    body = b""
    method = "GET"
    headers = {"X-Client-Note": "original"}
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10) if tamper == "expired" else None
    signer = principal
    if tamper == "wrong_secret":
        signer = dataclasses.replace(principal, secret_access_key="x" * 40)
    if tamper == "unknown_key":
        signer = dataclasses.replace(principal, access_key_id="AKIAUNKNOWNUNKNOWN00")
    if tamper == "body":
        method, url, body = "POST", cloud.api_url + "/uploads", json.dumps({"count": 10}).encode()
    signed = sign(
        signer, method, url, body, {**headers, "Content-Type": "application/json"}, cloud.region, at=at
    )
    if tamper == "signed_header":
        signed["X-Client-Note"] = "changed"
    if tamper == "body":
        body = json.dumps({"count": 20}).encode()
    if tamper == "path":
        url = cloud.api_url + "/models/m-aaaaaaaaaaaaaaaaaaaa"
    if tamper == "query":
        url = cloud.api_url + "/models?limit=6"
    response = requests.request(method, url, data=body, headers=signed, timeout=30)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "INVALID_SIGNATURE"
    # the untampered request goes through
    good = sign(principal, "GET", cloud.api_url + "/models", b"", {}, cloud.region)
    assert requests.get(cloud.api_url + "/models", headers=good, timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"[1, 2]", "application/json"), (b"{not json", "application/json"), (b"{}", None)],
)
def test_gateway_request_validation_refuses_non_object_bodies(
    cloud: LocalCloud, body: bytes, content_type: str | None
) -> None:
    url = cloud.api_url + "/trainings"
    headers = {"Content-Type": content_type} if content_type else {}
    signed = sign(cloud.principals[0], "POST", url, body, headers, cloud.region)
    response = requests.post(url, data=body, headers=signed, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_second_owner_cannot_see_or_use_first_owners_model(
    cloud: LocalCloud, inbox: NotificationInbox, trainings: dict[str, dict[str, Any]]
) -> None:
    accepted = trainings["good"]
    inbox.wait_for(accepted["training_id"])
    other = client_for(cloud, cloud.principals[1])
    model_id, training_id = accepted["model_id"], accepted["training_id"]

    assert model_id not in [m["model_id"] for m in other.list_models()]
    for call in (
        lambda: other.get_training(training_id),
        lambda: other.generate(model_id, "a photo of <<TOK>>", width=64, height=64, num_inference_steps=1),
        lambda: other.delete_model(model_id),
    ):
        with pytest.raises(AvatarApiError) as refused:
            call()
        assert refused.value.status == 404  # another owner's things do not exist for this caller
    # the first owner still has it
    first = client_for(cloud, cloud.principals[0])
    assert first.get_training(training_id)["status"] == "completed"
    # and the event the handlers saw carried each caller's own verified identity
    response = signed_call(cloud, cloud.principals[1], "GET", "/models")
    assert response.status_code == 200 and response.json()["models"] == []


def test_owner_deletes_model_and_its_data(
    cloud: LocalCloud, inbox: NotificationInbox, trainings: dict[str, dict[str, Any]]
) -> None:
    """Erasing a model removes its artifact and its training's data, and nothing of the owner's others.
    It erases its own model, so it may run in any order."""
    accepted = trainings["doomed"]
    _, raw = inbox.wait_for(accepted["training_id"])
    assert raw["invocationStatus"] == "Completed", raw.get("failureReason")
    owner = cloud.owner_id(cloud.principals[0])
    client = client_for(cloud, cloud.principals[0])

    client.delete_model(accepted["model_id"])

    assert _hosting_keys(cloud, f"{cloud.settings.models_prefix}{owner}/{accepted['model_id']}") == []
    data = cloud.client("s3").list_objects_v2(
        Bucket=cloud.settings.data_bucket, Prefix=f"trainings/{owner}/{accepted['training_id']}/"
    )
    assert data.get("KeyCount", 0) == 0
    assert accepted["model_id"] not in [m["model_id"] for m in client.list_models()]
    with pytest.raises(AvatarApiError) as gone:
        client.generate(accepted["model_id"], "a photo of <<TOK>>", width=64, height=64)
    assert gone.value.status == 404
    kept = trainings["good"]
    inbox.wait_for(kept["training_id"])
    assert {m["model_id"] for m in client.list_models()} == {kept["model_id"]}  # faceless never started
    assert client.get_training(kept["training_id"])["status"] == "completed"


# -- presigned POST uploads through the local S3's policy check (local_cloud/s3_post_policy.py) -----------
def _upload_keys(cloud: LocalCloud, fields: dict[str, str]) -> list[str]:
    """What the upload batch of `fields`' key holds in moto (the selfies stored; the slots are counted in
    the state table)."""
    batch = fields["key"].rsplit("/", 1)[0] + "/"
    s3 = cloud.client("s3")
    assert s3.list_multipart_uploads(Bucket=cloud.settings.data_bucket).get("Uploads", []) == []
    listing = s3.list_objects_v2(Bucket=cloud.settings.data_bucket, Prefix=batch)
    return sorted(item["Key"].removeprefix(batch) for item in listing.get("Contents", []))


def test_selfies_uploaded_through_presigned_posts_train_a_model(
    cloud: LocalCloud, inbox: NotificationInbox
) -> None:
    """The SDK posts each selfie to its presigned POST (checked by the local S3 as S3 checks it), the
    training reads them from S3, and the uploads are removed once the training is queued."""
    client = client_for(cloud, cloud.principals[1])
    refused_before = len(cloud.s3_front.refused) if cloud.s3_front else 0
    references = client.upload_selfies([to_jpeg(i) for i in make_selfies(10)])
    assert cloud.s3_front is not None and len(cloud.s3_front.refused) == refused_before
    _, accepted = client.request(
        "POST", "/trainings", {"images": references, "model_name": "uploaded", "config": FAST_TRAINING}
    )
    _, raw = inbox.wait_for(accepted["training_id"])
    assert raw["invocationStatus"] == "Completed", raw.get("failureReason")
    assert client.get_training(accepted["training_id"])["status"] == "completed"
    owner = cloud.owner_id(cloud.principals[1])
    uploads = cloud.client("s3").list_objects_v2(
        Bucket=cloud.settings.data_bucket, Prefix=f"uploads/{owner}/{references[0]['upload_id']}/"
    )
    assert uploads.get("KeyCount", 0) == 0  # taken by the training, then deleted
    client.delete_model(accepted["model_id"])  # the other tests expect this owner to have no model


@pytest.mark.parametrize("hostile", ["oversized", "wrong_type", "tampered_policy", "expired"])
def test_the_local_s3_refuses_a_form_outside_its_policy(cloud: LocalCloud, hostile: str) -> None:
    """As S3 does: too large, not an image/* Content-Type, a policy changed after signing, a form past its
    expiry (validly signed by the API's role). Nothing is stored; the untampered form then works."""
    client = client_for(cloud, cloud.principals[1])
    slot = client.create_uploads(1)["uploads"][0]
    url, fields, data = slot["url"], dict(slot["fields"]), to_jpeg(make_selfies(1)[0])
    content_type = "image/jpeg"
    if hostile == "oversized":
        data += b"\0" * (15 * 2**20)
    if hostile == "wrong_type":
        content_type = "text/html"
    if hostile == "tampered_policy":
        policy = json.loads(base64.b64decode(fields["policy"]))
        policy["conditions"] = [c for c in policy["conditions"] if "content-length-range" not in c]
        fields["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()
    if hostile == "expired":
        role = boto3.client("s3", region_name=cloud.region, endpoint_url=url.rsplit("/", 1)[0],
                            aws_access_key_id=SERVICE_ACCESS_KEY_ID,
                            aws_secret_access_key=SERVICE_SECRET_ACCESS_KEY,
                            config=Config(signature_version="s3v4"))  # fmt: skip
        conditions = [["content-length-range", 1, 15 * 2**20], ["starts-with", "$Content-Type", "image/"]]
        fields = role.generate_presigned_post(
            cloud.settings.data_bucket, fields["key"], Conditions=conditions, ExpiresIn=-60
        )["fields"]
    form = [*fields.items(), ("Content-Type", content_type), ("file", ("selfie", data, content_type))]
    body, form_type = encode_multipart_formdata(form)
    response = requests.post(url, data=body, headers={"Content-Type": form_type}, timeout=60)
    expected = {
        "oversized": (400, "EntityTooLarge"),
        "wrong_type": (403, "AccessDenied"),
        "tampered_policy": (403, "SignatureDoesNotMatch"),
        "expired": (403, "AccessDenied"),
    }[hostile]
    assert (response.status_code, _s3_error_code(response.text)) == expected, response.text
    if hostile == "expired":
        assert "Policy expired" in response.text
    assert _upload_keys(cloud, fields) == []  # nothing stored, nothing partial

    good_body, good_type = upload_form(slot["fields"], to_jpeg(make_selfies(1)[0]))
    assert requests.post(url, data=good_body, headers={"Content-Type": good_type}, timeout=60).ok
    assert _upload_keys(cloud, slot["fields"]) == ["0"]


def _s3_error_code(xml: str) -> str:
    return xml.split("<Code>", 1)[-1].split("</Code>", 1)[0]
