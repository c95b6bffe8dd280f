"""Per-owner quotas on moto's DynamoDB, through the Lambda handlers: concurrent trainings, trainings per
UTC day, generations per minute (429 quota_exceeded with Retry-After, naming the limit); slots given back
on rollback and by `Quotas.release_training`; the dry run takes nothing; concurrency cannot overshoot."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from avatar_api.quotas import QuotaLimits, Quotas
from avatar_api.services import get_services
from tests.fixtures.api import ALICE, BOB, b64, header, owner_id, png, response_json, selfies
from tests.fixtures.api_backend import STATE_TABLE, Api
from tests.integration.api.test_models_and_generations import train

ALICE_OWNER = owner_id(ALICE)


def quotas(**limits: int) -> Quotas:
    """The API's quotas, set to cdk.json's defaults overridden by `limits`."""
    service_quotas = get_services().quotas
    service_quotas.limits = QuotaLimits(**limits)
    return service_quotas


def post_training(api: Api, user: str = ALICE, **body: Any) -> dict[str, Any]:
    api.queue_training()
    return api.call("POST", "/trainings", {"images": selfies(), **body}, user=user)


def assert_quota_exceeded(response: dict[str, Any], limit: str) -> int:
    assert response["statusCode"] == 429, response["body"]
    error = response_json(response)["error"]
    assert error["code"] == "quota_exceeded" and limit in error["message"], error
    retry_after = int(header(response, "Retry-After") or 0)
    assert retry_after > 0
    return retry_after


def test_one_training_at_a_time_until_the_status_consumer_releases_it(api: Api) -> None:
    limits = quotas()
    first = response_json(post_training(api))
    assert_quota_exceeded(post_training(api), "1 training(s) per owner at a time")
    assert post_training(api, user=BOB)["statusCode"] == 202  # per owner

    limits.release_training(ALICE_OWNER, first["training_id"])
    limits.release_training(ALICE_OWNER, first["training_id"])  # twice: a no-op
    limits.release_training(ALICE_OWNER, "t-unknown000000000000")  # unknown: a no-op
    second = post_training(api)
    assert second["statusCode"] == 202, second["body"]
    assert_quota_exceeded(post_training(api), "at a time")  # the second release freed nothing more


def test_trainings_per_utc_day(api: Api) -> None:
    limits = quotas(concurrent_trainings=10)
    for _ in range(5):
        assert post_training(api)["statusCode"] == 202
    retry_after = assert_quota_exceeded(post_training(api), "5 trainings per owner per UTC day")
    assert retry_after <= 86400
    later = limits.clock() + retry_after + 1  # the next UTC day
    limits.clock = lambda: later
    assert post_training(api)["statusCode"] == 202


def test_a_rolled_back_submission_gives_its_quota_back(api: Api) -> None:
    quotas(concurrent_trainings=1, trainings_per_day=1)
    api.training.queue_error("invoke_endpoint_async", "ServiceUnavailable", 503)
    failed = api.call("POST", "/trainings", {"images": selfies()})
    assert failed["statusCode"] == 503
    assert post_training(api)["statusCode"] == 202  # neither the slot nor the day's one was spent


def test_a_refused_selfie_set_gives_its_quota_back(api: Api) -> None:
    quotas(concurrent_trainings=1, trainings_per_day=1)
    broken = [*selfies(9), {"data": b64(b"not an image")}]
    refused = api.call("POST", "/trainings", {"images": broken})
    assert refused["statusCode"] == 400 and "images[9]" in response_json(refused)["error"]["message"]
    assert post_training(api)["statusCode"] == 202


def test_a_dry_run_takes_no_slot(api: Api) -> None:
    quotas(concurrent_trainings=1, trainings_per_day=1)
    for _ in range(3):
        assert api.call("POST", "/trainings", {"images": selfies(), "dry_run": True})["statusCode"] == 200
    assert post_training(api)["statusCode"] == 202


def test_a_replayed_submission_takes_nothing(api: Api) -> None:
    quotas(concurrent_trainings=1, trainings_per_day=1)
    headers = {"Idempotency-Key": "once"}
    api.queue_training()
    first = api.call("POST", "/trainings", {"images": selfies()}, headers=headers)
    again = api.call("POST", "/trainings", {"images": selfies()}, headers=headers)
    assert first["statusCode"] == again["statusCode"] == 202
    assert response_json(again)["replayed"] is True


def test_concurrent_submissions_cannot_overshoot_the_concurrency_quota(api: Api) -> None:
    quotas(concurrent_trainings=2)
    for _ in range(6):
        api.queue_training()
    barrier = threading.Barrier(6)

    def submit(index: int) -> int:
        barrier.wait()
        body = {"images": selfies(), "model_name": f"m{index}"}
        return api.call("POST", "/trainings", body)["statusCode"]

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(submit, range(6)))
    assert statuses == [202, 202, 429, 429, 429, 429]


@pytest.fixture
def model(api: Api) -> str:
    quotas(concurrent_trainings=10)
    return train(api)["model_id"]


def test_generations_per_minute(api: Api, model: str) -> None:
    limits = quotas(generations_per_minute=3)
    for _ in range(3):
        api.hosting.queue_images([png()])
        assert api.call("POST", f"/models/{model}/generations", {"prompt": "hi"})["statusCode"] == 200
    retry_after = assert_quota_exceeded(
        api.call("POST", f"/models/{model}/generations", {"prompt": "hi"}),
        "3 generations per owner per minute",
    )
    assert retry_after <= 60
    later = limits.clock() + retry_after + 0.01
    limits.clock = lambda: later
    api.hosting.queue_images([png()])
    assert api.call("POST", f"/models/{model}/generations", {"prompt": "hi"})["statusCode"] == 200


def test_windows_expire_by_ttl(api: Api) -> None:
    quotas()
    post_training(api)
    items = api.dynamodb.scan(TableName=STATE_TABLE)["Items"]
    windows = [item for item in items if "#trainings-day#" in item["pk"]["S"]]
    assert len(windows) == 1 and int(windows[0]["expiration"]["N"]) > 0
    assert all(item["pk"]["S"].startswith(("quota#", "idempotency#")) for item in items)
