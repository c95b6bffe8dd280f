"""POST /uploads: the presigned POST's conditions, the cap on open slots, and the function's own bounded,
ETag-pinned read of an upload. moto enforces neither POST-policy conditions nor signatures, so these tests
check the policy the API signs and what the function itself reads, never a refusal only S3 would give."""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from avatar_api.adapters.aws import Bucket
from avatar_api.services import get_services
from avatar_api.settings import MAX_IMAGE_BYTES, MAX_OPEN_UPLOAD_SLOTS, UPLOAD_URL_EXPIRES_SECONDS
from tests.fixtures.api import ALICE, BOB, header, image_bytes, owner_id, response_json
from tests.fixtures.api_backend import DATA_BUCKET, Api
from tests.integration.api.test_trainings import post_upload, start

ALICE_OWNER = owner_id(ALICE)


def policy_of(slot: dict) -> dict:
    return json.loads(base64.b64decode(slot["fields"]["policy"]))


def test_each_slot_is_a_presigned_post_bounded_in_size_type_key_and_time(api: Api) -> None:
    batch = response_json(api.call("POST", "/uploads", {"count": 2}))
    assert batch["max_bytes"] == MAX_IMAGE_BYTES and batch["expires_in"] == UPLOAD_URL_EXPIRES_SECONDS
    for slot in batch["uploads"]:
        policy = policy_of(slot)
        key = f"uploads/{ALICE_OWNER}/{batch['upload_id']}/{slot['index']}"
        assert {"key": key} in policy["conditions"] and {"bucket": DATA_BUCKET} in policy["conditions"]
        assert ["content-length-range", 1, MAX_IMAGE_BYTES] in policy["conditions"]
        assert ["starts-with", "$Content-Type", "image/"] in policy["conditions"]
        expires = time.mktime(time.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        assert 0 < expires - time.time() <= UPLOAD_URL_EXPIRES_SECONDS + 5
        assert any("signature" in name.lower() for name in slot["fields"])  # signed (SigV4 in production)


def test_open_upload_slots_are_capped_per_owner(api: Api) -> None:
    batches = [response_json(api.call("POST", "/uploads", {"count": 20})) for _ in range(2)]
    assert sum(len(b["uploads"]) for b in batches) == MAX_OPEN_UPLOAD_SLOTS

    refused = api.call("POST", "/uploads", {"count": 1})

    assert refused["statusCode"] == 429
    assert response_json(refused)["error"]["code"] == "too_many_uploads"
    assert header(refused, "Retry-After") == str(UPLOAD_URL_EXPIRES_SECONDS)
    assert api.call("POST", "/uploads", {"count": 1}, user=BOB)["statusCode"] == 201  # per owner
    # A training that takes a batch frees its slots.
    first = batches[0]
    for slot in first["uploads"][:10]:
        post_upload(slot, image_bytes(seed=slot["index"]))
    accepted = start(api, {"images": [{"upload_id": first["upload_id"], "index": i} for i in range(10)]})
    assert accepted["statusCode"] == 202, accepted["body"]
    assert api.call("POST", "/uploads", {"count": 20})["statusCode"] == 201


def test_expired_slots_do_not_count(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(2):
        api.call("POST", "/uploads", {"count": 20})
    assert api.call("POST", "/uploads", {"count": 1})["statusCode"] == 429
    later = time.time() + UPLOAD_URL_EXPIRES_SECONDS + 1
    monkeypatch.setattr(get_services().quotas, "clock", lambda: later)
    assert api.call("POST", "/uploads", {"count": 20})["statusCode"] == 201
    assert api.call("POST", "/uploads", {"count": 20})["statusCode"] == 201  # both expired batches freed
    assert api.call("POST", "/uploads", {"count": 1})["statusCode"] == 429


def test_concurrent_upload_requests_cannot_overshoot_the_cap(api: Api) -> None:
    barrier = threading.Barrier(6)

    def request(_: int) -> int:
        barrier.wait()
        return api.call("POST", "/uploads", {"count": 20})["statusCode"]

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(request, range(6)))

    assert statuses == [201, 201, 429, 429, 429, 429]


def uploaded_batch(api: Api) -> tuple[dict, list[dict]]:
    batch = response_json(api.call("POST", "/uploads", {"count": 10}))
    for slot in batch["uploads"]:
        post_upload(slot, image_bytes(seed=slot["index"]))
    return batch, [{"upload_id": batch["upload_id"], "index": i} for i in range(10)]


def test_an_upload_over_the_limit_is_refused_from_its_size(api: Api) -> None:
    batch, images = uploaded_batch(api)
    key = batch["uploads"][3]["fields"]["key"]
    api.s3.put_object(
        Bucket=DATA_BUCKET, Key=key, Body=b"\xff" * (MAX_IMAGE_BYTES + 1)
    )  # what S3 would refuse
    response = start(api, {"images": images})
    assert response["statusCode"] == 413 and "images[3]" in response_json(response)["error"]["message"]


def test_the_read_is_bounded_even_if_the_object_grew_after_its_size_was_checked(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch, images = uploaded_batch(api)
    key = batch["uploads"][0]["fields"]["key"]
    api.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=b"\xff" * (3 * MAX_IMAGE_BYTES))
    real_head = Bucket.head
    monkeypatch.setattr(Bucket, "head", lambda self, k: (100, real_head(self, k)[1]))  # a stale size
    ranges: list[str] = []
    api.s3.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: ranges.append(params.get("Range", ""))
    )

    response = start(api, {"images": images})

    assert response["statusCode"] == 413
    assert ranges[0] == f"bytes=0-{MAX_IMAGE_BYTES}"  # at most one byte more than the limit was read


def test_an_upload_replaced_between_the_check_and_the_read_is_refused(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, images = uploaded_batch(api)
    real_head = Bucket.head
    monkeypatch.setattr(Bucket, "head", lambda self, k: (real_head(self, k)[0], '"0123456789abcdef"'))

    response = start(api, {"images": images})

    assert response["statusCode"] == 400
    assert "changed while it was read" in response_json(response)["error"]["message"]
