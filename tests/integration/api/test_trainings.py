"""POST /uploads, POST /trainings, GET /trainings/{id} through the `trainings` Lambda handler."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
import requests

from avatar_contract import keys
from avatar_contract.keys import split_s3_uri
from avatar_contract.names import Env
from avatar_contract.training import TrainingConfig, TrainingFailure
from tests.fixtures.api import ALICE, BOB, b64, header, image_bytes, owner_id, response_json, selfies
from tests.fixtures.api_backend import DATA_BUCKET, HOSTING_BUCKET, Api
from tests.integration.api.helpers import put_successful_result

ALICE_OWNER = owner_id(ALICE)


def post_upload(slot: dict, data: bytes, content_type: str = "image/jpeg") -> requests.Response:
    """What a browser or the client does with an upload slot: a multipart POST of its fields + the file."""
    fields = {**slot["fields"], "Content-Type": content_type}
    return requests.post(slot["url"], data=fields, files={"file": ("selfie", data)}, timeout=10)


def start(api: Api, body: dict | None = None, **kwargs) -> dict:
    api.queue_training()
    return api.call("POST", "/trainings", body or {"images": selfies()}, **kwargs)


def test_start_training_packages_input_and_invokes_the_async_endpoint(api: Api) -> None:
    output, failure = api.queue_training()
    body = {"images": selfies(12), "model_name": "Alice", "config": {"max_train_steps": 400, "lora_rank": 16}}

    response = api.call("POST", "/trainings", body)

    assert response["statusCode"] == 202, response["body"]
    accepted = response_json(response)
    training_id, model_id = accepted["training_id"], accepted["model_id"]
    assert keys.TRAINING_ID_RE.fullmatch(training_id) and keys.MODEL_ID_RE.fullmatch(model_id)
    assert accepted["status"] == "queued"
    assert accepted["target_model"] == f"{ALICE_OWNER}/{model_id}.tar.gz"
    input_key = f"trainings/{ALICE_OWNER}/{training_id}/input.tar.gz"
    assert api.training.calls == [
        (
            "InvokeEndpointAsync",
            {
                "EndpointName": "avatar-training",
                "InputLocation": f"s3://{DATA_BUCKET}/{input_key}",
                "InferenceId": training_id,
                "InvocationTimeoutSeconds": 3600,
                "ContentType": "application/x-gzip",
                "Accept": "application/json",
                "RequestTTLSeconds": 6 * 3600,
            },
        )
    ]
    archive = api.s3.get_object(Bucket=DATA_BUCKET, Key=input_key)["Body"].read()
    tags = api.s3.get_object_tagging(Bucket=DATA_BUCKET, Key=input_key)["TagSet"]
    assert tags == [{"Key": "retention", "Value": "training-input"}]  # expired by the lifecycle rule
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = sorted(tar.getnames())
        config = TrainingConfig.model_validate_json(tar.extractfile("config.json").read())
        first = tar.extractfile("image_00.jpg").read()
    assert names == sorted(
        ["config.json"] + [f"image_{i:02d}.{'png' if i % 2 else 'jpg'}" for i in range(12)]
    )
    assert first == image_bytes("JPEG", seed=0)
    assert config.training_id == training_id and config.model_id == model_id and config.owner == ALICE_OWNER
    assert config.model_name == "Alice" and config.max_train_steps == 400 and config.lora_rank == 16
    assert config.model_s3_uri == f"s3://{HOSTING_BUCKET}/models/{ALICE_OWNER}/{model_id}.tar.gz"
    assert config.preview_s3_prefix == f"s3://{DATA_BUCKET}/trainings/{ALICE_OWNER}/{training_id}/previews/"
    record = json.loads(
        api.s3.get_object(Bucket=DATA_BUCKET, Key=keys.training_record_key(ALICE_OWNER, training_id))[
            "Body"
        ].read()
    )
    assert record["output_location"] == output and record["failure_location"] == failure
    assert record["model_name"] == "Alice" and record["model_id"] == model_id

    status = api.call("GET", f"/trainings/{training_id}")
    assert status["statusCode"] == 200
    assert response_json(status)["status"] == "queued"


def test_status_follows_the_async_output(api: Api) -> None:
    output, _ = api.queue_training()
    accepted = response_json(api.call("POST", "/trainings", {"images": selfies()}))
    tid, mid = accepted["training_id"], accepted["model_id"]
    preview = keys.preview_prefix(ALICE_OWNER, tid) + "0.png"
    api.s3.put_object(Bucket=DATA_BUCKET, Key=preview, Body=image_bytes("PNG"))
    put_successful_result(api, output, ALICE_OWNER, accepted, [preview, "../../escape"])

    # Issue 21 M1: the training only staged its model; completed once the publisher published it.
    assert response_json(api.call("GET", f"/trainings/{tid}"))["status"] == "queued"
    api.published(ALICE_OWNER, tid, mid)
    status = response_json(api.call("GET", f"/trainings/{tid}"))

    assert status["status"] == "completed" and status["model_id"] == mid
    assert status["metrics"]["steps"] == 10
    assert len(status["preview_urls"]) == 1 and preview in status["preview_urls"][0]


@pytest.mark.parametrize(
    ("failure_body", "reason"),
    [
        (
            TrainingFailure(training_id="x", reason="only 3 usable faces; need 8").model_dump_json(),
            "only 3 usable faces",
        ),
        ("CUDA out of memory", "CUDA out of memory"),
        (  # issue 21 L7: internals in a failure body stay in it (and the logs), out of the answer
            TrainingFailure(
                training_id="x",
                reason=f"could not upload the model to s3://{DATA_BUCKET}/models/x.tar.gz: User: "
                "arn:aws:sts::123456789012:assumed-role/avatar-training/SageMaker is not authorized; "
                "see /opt/ml/output/failure",
            ).model_dump_json(),
            "could not upload the model",
        ),
    ],
)
def test_status_reports_the_failure_reason(
    api: Api, failure_body: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(Env.DATA_BUCKET, DATA_BUCKET)  # as the stack sets it
    _, failure = api.queue_training()
    tid = response_json(api.call("POST", "/trainings", {"images": selfies()}))["training_id"]
    api.s3.put_object(Bucket=DATA_BUCKET, Key=split_s3_uri(failure)[1], Body=failure_body.encode())

    status = response_json(api.call("GET", f"/trainings/{tid}"))

    assert status["status"] == "failed"
    assert reason in status["reason"]
    for internal in ("123456789012", "arn:", DATA_BUCKET, "/opt/ml", "s3://", "avatar-training"):
        assert internal not in status["reason"]


def test_idempotency_key_returns_the_same_training_and_starts_nothing(api: Api) -> None:
    body = {"images": selfies()}
    first = start(api, body, headers={"Idempotency-Key": "selfies-2026-01-01"})
    second = api.call("POST", "/trainings", body, headers={"idempotency-key": "selfies-2026-01-01"})
    in_body = api.call("POST", "/trainings", {**body, "idempotency_key": "selfies-2026-01-01"})

    assert first["statusCode"] == second["statusCode"] == in_body["statusCode"] == 202
    ids = {(response_json(r)["training_id"], response_json(r)["model_id"]) for r in (first, second, in_body)}
    assert len(ids) == 1
    assert response_json(second)["replayed"] is True
    assert len(api.training.calls) == 1
    assert len([k for k in api.object_keys() if k.endswith("input.tar.gz")]) == 1


def test_idempotency_key_is_per_owner(api: Api) -> None:
    body = {"images": selfies()}
    alice = start(api, body, headers={"Idempotency-Key": "k1"})
    bob = start(api, body, headers={"Idempotency-Key": "k1"}, user=BOB)
    assert response_json(alice)["training_id"] != response_json(bob)["training_id"]
    assert len(api.training.calls) == 2


def test_idempotency_key_reused_for_another_request_is_refused(api: Api) -> None:
    start(api, {"images": selfies()}, headers={"Idempotency-Key": "k2"})
    response = api.call("POST", "/trainings", {"images": selfies(11)}, headers={"Idempotency-Key": "k2"})
    assert response["statusCode"] == 422
    assert response_json(response)["error"]["code"] == "idempotency_key_reused"
    assert len(api.training.calls) == 1


def test_invoke_failure_leaves_nothing_behind_and_a_retry_works(api: Api) -> None:
    api.training.queue_error("invoke_endpoint_async", "ServiceUnavailable", 503)
    body = {"images": selfies()}

    failed = api.call("POST", "/trainings", body, headers={"Idempotency-Key": "retry-me"})

    assert failed["statusCode"] == 503
    assert header(failed, "Retry-After")
    assert response_json(failed)["error"]["code"] == "service_unavailable"
    assert api.object_keys() == []
    retried = start(api, body, headers={"Idempotency-Key": "retry-me"})
    assert retried["statusCode"] == 202
    assert response_json(retried)["replayed"] is False
    assert len(api.training.calls) == 2


def test_presigned_uploads_feed_a_training(api: Api) -> None:
    created = api.call("POST", "/uploads", {"count": 10})
    assert created["statusCode"] == 201, created["body"]
    batch = response_json(created)
    assert len(batch["uploads"]) == 10
    for slot in batch["uploads"]:
        assert slot["method"] == "POST"
        assert slot["fields"]["key"] == f"uploads/{ALICE_OWNER}/{batch['upload_id']}/{slot['index']}"
        post = post_upload(slot, image_bytes(seed=slot["index"]))
        assert post.status_code in (200, 204), post.text
    images = [{"upload_id": batch["upload_id"], "index": slot["index"]} for slot in batch["uploads"]]

    accepted = start(api, {"images": images})

    assert accepted["statusCode"] == 202, accepted["body"]
    assert not [key for key in api.object_keys() if key.startswith("uploads/")]  # consumed
    # Bob cannot use Alice's uploads: the key is built under the caller's own prefix.
    created = response_json(api.call("POST", "/uploads", {"count": 10}))
    for slot in created["uploads"]:
        post_upload(slot, image_bytes(seed=slot["index"]))
    refs = [{"upload_id": created["upload_id"], "index": i} for i in range(10)]
    stolen = api.call("POST", "/trainings", {"images": refs}, user=BOB)
    assert stolen["statusCode"] == 400
    assert "images[0]" in response_json(stolen)["error"]["message"]


def _bomb_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (12_000, 6_000)).save(buffer, format="PNG")
    return buffer.getvalue()


def _gif() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (96, 96)).save(buffer, format="GIF")
    return buffer.getvalue()


BAD_IMAGES = {
    "bad base64": ({"data": "not base64 !!"}, 400, "images[3].data"),
    "non-image bytes": ({"data": b64(b"%PDF-1.4 definitely not a selfie" * 10)}, 400, "images[3]"),
    "gif": ({"data": b64(_gif())}, 400, "images[3]"),
    "truncated jpeg": ({"data": b64(image_bytes()[:600])}, 400, "images[3]"),
    "tiny image": ({"data": b64(image_bytes(size=(32, 32)))}, 400, "images[3]"),
    "decompression bomb": ({"data": b64(_bomb_png())}, 413, "images[3]"),
    "30 MB image": ({"data": b64(b"\xff\xd8\xff" + bytes(30 * 2**20))}, 413, "images[3]"),
    "both sources": (
        {"data": b64(image_bytes()), "upload_id": "u-" + "a" * 20, "index": 0},
        400,
        "images[3]",
    ),
    "path traversal upload id": ({"upload_id": "../../trainings", "index": 0}, 400, "images[3].upload_id"),
    "missing upload": ({"upload_id": "u-" + "b" * 20, "index": 0}, 400, "images[3]"),
}


@pytest.mark.parametrize("case", BAD_IMAGES, ids=list(BAD_IMAGES))
def test_bad_image_is_refused_naming_it_and_nothing_is_written(api: Api, case: str) -> None:
    bad, status, field = BAD_IMAGES[case]
    images = selfies()
    images[3] = bad

    response = api.call("POST", "/trainings", {"images": images}, headers={"Idempotency-Key": "bad"})

    assert response["statusCode"] == status, response["body"]
    error = response_json(response)["error"]
    assert field in error["message"]
    assert error["code"] in ("invalid_request", "payload_too_large")
    assert api.object_keys() == [] and api.training.calls == []


BAD_BODIES = {
    "3 images": ({"images": selfies(3)}, "images"),
    "25 images": ({"images": selfies(25)}, "images"),
    "no images": ({"model_name": "x"}, "images"),
    "unknown config key": ({"images": selfies(), "config": {"learning_rat": 0.1}}, "config.learning_rat"),
    "out-of-range steps": (
        {"images": selfies(), "config": {"max_train_steps": 100000}},
        "config.max_train_steps",
    ),
    "unknown top-level key": ({"images": selfies(), "webhook": "http://x"}, "webhook"),
    "long model name": ({"images": selfies(), "model_name": "x" * 101}, "model_name"),
    "bad idempotency key": ({"images": selfies(), "idempotency_key": "has space"}, "idempotency_key"),
    "not json": ("{not json", "JSON"),
}


@pytest.mark.parametrize("case", BAD_BODIES, ids=list(BAD_BODIES))
def test_invalid_request_names_the_field(api: Api, case: str) -> None:
    body, field = BAD_BODIES[case]
    response = api.call("POST", "/trainings", body)
    assert response["statusCode"] == 400, response["body"]
    error = response_json(response)["error"]
    assert error["code"] == "invalid_request"
    assert field in error["message"]
    assert api.object_keys() == [] and api.training.calls == []


def test_header_and_body_idempotency_keys_must_agree(api: Api) -> None:
    response = api.call(
        "POST", "/trainings", {"images": selfies(), "idempotency_key": "a"}, headers={"Idempotency-Key": "b"}
    )
    assert response["statusCode"] == 400
    assert "idempotency_key" in response_json(response)["error"]["message"]


def test_uploads_count_is_bounded(api: Api) -> None:
    for count in (0, 21):
        response = api.call("POST", "/uploads", {"count": count})
        assert response["statusCode"] == 400
        assert "count" in response_json(response)["error"]["message"]


def test_unknown_and_foreign_trainings_are_not_found(api: Api) -> None:
    tid = response_json(start(api))["training_id"]
    for path, user in (
        (f"/trainings/{tid}", BOB),
        ("/trainings/t-" + "0" * 20, ALICE),
        ("/trainings/..%2F..", ALICE),
    ):
        response = api.call("GET", path, user=user)
        assert response["statusCode"] == 404
        assert response_json(response)["error"]["code"] == "not_found"


def test_request_without_iam_identity_is_forbidden(api: Api) -> None:
    response = api.call("POST", "/trainings", {"images": selfies()}, user=None)
    assert response["statusCode"] == 403
    assert response_json(response)["error"]["code"] == "forbidden"
    assert api.object_keys() == []


def test_cognito_identity_is_preferred_over_the_role_session(api: Api) -> None:
    tid = response_json(start(api, user=ALICE, cognito_identity_id="us-east-1:abc"))["training_id"]
    # Same identity, another role session name: same owner.
    other_session = ALICE.replace("alice", "session-2")
    ok = api.call("GET", f"/trainings/{tid}", user=other_session, cognito_identity_id="us-east-1:abc")
    assert ok["statusCode"] == 200
    assert api.call("GET", f"/trainings/{tid}", user=ALICE)["statusCode"] == 404
