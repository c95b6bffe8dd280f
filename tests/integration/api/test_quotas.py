"""Per-owner quotas on moto's DynamoDB, through the Lambda handlers: concurrent trainings, trainings per
UTC day, generations per minute (429 quota_exceeded with Retry-After, naming the limit); slots given back
on rollback and by `Quotas.release_training`; the dry run takes no training; concurrency cannot overshoot.
Issue 21 M3: dry runs per hour and refused submissions per day are metered; M4: generations by cost
(pixel-steps per minute) and in flight."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from avatar_api.adapters.quotas import QuotaLimits, Quotas
from avatar_api.errors import QuotaExceeded
from avatar_api.services import get_services
from tests.fixtures.api import ALICE, BOB, b64, header, owner_id, png, response_json, selfies
from tests.fixtures.api_backend import STATE_TABLE, Api
from tests.integration.api.test_models_and_generations import train

ALICE_OWNER = owner_id(ALICE)


def quotas(**limits: int) -> Quotas:
    """The API's quotas, set to cdk.json's defaults overridden by `limits`, on a clock stopped at now: a
    test moves it on itself, so a minute, hour or UTC day that turns during a slow run changes nothing."""
    service_quotas = get_services().quotas
    service_quotas.limits = QuotaLimits(**limits)
    now = service_quotas.clock()
    service_quotas.clock = lambda: now
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


def assert_window_fills(
    request: Callable[[], dict[str, Any]], allowed: int, status: int, limit: str, window_seconds: int
) -> int:
    """`allowed` requests pass (`status`), the next is refused naming `limit` with a Retry-After within
    the window: returns the Retry-After."""
    for _ in range(allowed):
        response = request()
        assert response["statusCode"] == status, response["body"]
    retry_after = assert_quota_exceeded(request(), limit)
    assert retry_after <= window_seconds
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
    retry_after = assert_window_fills(
        lambda: post_training(api), 5, 202, "5 trainings per owner per UTC day", 86400
    )
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


# --- M3: dry runs and refused submissions are metered ---------------------------------------------


def dry_run(api: Api, user: str = ALICE) -> dict[str, Any]:
    return api.call("POST", "/trainings", {"images": selfies(), "dry_run": True}, user=user)


def test_dry_runs_per_hour(api: Api) -> None:
    limits = quotas(dry_runs_per_hour=2)
    retry_after = assert_window_fills(
        lambda: dry_run(api), 2, 200, "at most 2 dry runs per owner per hour", 3600
    )
    assert dry_run(api, user=BOB)["statusCode"] == 200  # per owner
    assert post_training(api)["statusCode"] == 202  # a dry run takes nothing from the trainings
    later = limits.clock() + retry_after + 0.01
    limits.clock = lambda: later
    assert dry_run(api)["statusCode"] == 200


def test_a_refused_dry_run_is_refused_before_any_image_is_read(api: Api) -> None:
    quotas(dry_runs_per_hour=1)
    assert dry_run(api)["statusCode"] == 200
    broken = api.call(
        "POST", "/trainings", {"images": [{"data": b64(b"not an image")}] * 10, "dry_run": True}
    )
    assert_quota_exceeded(broken, "dry runs")  # not a 400 about images[0]: nothing was decoded


def refused_submission(api: Api, user: str = ALICE) -> dict[str, Any]:
    broken = [*selfies(9), {"data": b64(b"not an image")}]
    return api.call("POST", "/trainings", {"images": broken}, user=user)


def test_refused_submissions_per_utc_day(api: Api) -> None:
    limits = quotas(concurrent_trainings=10, trainings_per_day=10, refused_trainings_per_day=2)
    retry_after = assert_window_fills(
        lambda: refused_submission(api),
        2,
        400,
        "at most 2 refused training submissions per owner per UTC day",
        86400,
    )
    # Every submission is refused until the next UTC day (a refusal is taken up front), another owner is not.
    assert_quota_exceeded(post_training(api), "refused training submissions")
    assert post_training(api, user=BOB)["statusCode"] == 202
    later = limits.clock() + retry_after + 1
    limits.clock = lambda: later
    assert post_training(api)["statusCode"] == 202


def test_accepted_submissions_and_the_services_own_failures_are_not_refusals(api: Api) -> None:
    quotas(concurrent_trainings=10, trainings_per_day=10, refused_trainings_per_day=1)
    for _ in range(3):
        assert post_training(api)["statusCode"] == 202
    api.training.queue_error("invoke_endpoint_async", "ServiceUnavailable", 503)
    assert api.call("POST", "/trainings", {"images": selfies()})["statusCode"] == 503
    assert refused_submission(api)["statusCode"] == 400  # the one refusal of the day
    assert_quota_exceeded(refused_submission(api), "at most 1 refused training submissions")


def test_a_set_the_screening_refuses_pays_no_image_moderation(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The face screening runs before Rekognition: a set it refuses costs no moderation call."""
    from tests.integration.api.test_screening import _body, _images

    moderated: list[int] = []

    class CountingModerator:
        def check_prompts(self, prompts: list[str], field: str = "prompt") -> None:
            return None

        def check_selfies(self, images: list[bytes]) -> None:
            moderated.append(len(images))

        def deny_listed(self, text: str) -> bool:  # the service-chosen token's check
            return False

    monkeypatch.setattr(get_services(), "moderation", CountingModerator())
    refused = api.call("POST", "/trainings", _body(_images(8, 0, 2), config={"min_usable_images": 9}))
    assert refused["statusCode"] == 422 and moderated == []
    api.queue_training()
    assert api.call("POST", "/trainings", _body(_images(8, 0, 2)))["statusCode"] == 202
    assert moderated == [10]


# --- M4: generations by cost, and in flight ---------------------------------------------------------


def generate(api: Api, model: str, **body: Any) -> dict[str, Any]:
    api.hosting.queue_images([png()])
    return api.call("POST", f"/models/{model}/generations", {"prompt": "hi", **body})


def test_generation_pixel_steps_per_minute(api: Api, model: str) -> None:
    # 30 GPU-seconds on ml.g5.xlarge (2.5 M pixel-steps/s) = 75 M pixel-steps a minute.
    limits = quotas(generations_per_minute=100, generation_gpu_seconds_per_minute=30)
    get_services().hosting_instance_type = "ml.g5.xlarge"
    largest = {"num_images": 4, "num_inference_steps": 47}  # 4 x 512² x 47 = 49.3 M
    assert generate(api, model, **largest)["statusCode"] == 200
    retry_after = assert_quota_exceeded(
        api.call("POST", f"/models/{model}/generations", {"prompt": "hi", **largest}),
        "at most 75,000,000 pixel-steps",
    )
    assert retry_after <= 60
    for _ in range(3):  # 3 x 7.9 M more still fit (49.3 + 23.6 = 72.9 M)
        assert generate(api, model)["statusCode"] == 200
    assert_quota_exceeded(api.call("POST", f"/models/{model}/generations", {"prompt": "hi"}), "pixel-steps")
    later = limits.clock() + retry_after + 0.01
    limits.clock = lambda: later
    assert generate(api, model, **largest)["statusCode"] == 200


def test_a_generation_refused_by_its_cost_gives_its_count_back(api: Api, model: str) -> None:
    quotas(generations_per_minute=2, generation_gpu_seconds_per_minute=30)
    get_services().hosting_instance_type = "ml.g5.xlarge"
    largest = {"num_images": 4, "num_inference_steps": 47}
    assert generate(api, model, **largest)["statusCode"] == 200
    for _ in range(3):
        assert_quota_exceeded(
            api.call("POST", f"/models/{model}/generations", {"prompt": "hi", **largest}), "pixel-steps"
        )
    assert generate(api, model)["statusCode"] == 200  # the refusals did not spend the minute's 2 requests


def test_a_request_over_the_whole_minute_is_a_400(api: Api, model: str) -> None:
    quotas(generation_gpu_seconds_per_minute=5)  # 12.5 M pixel-steps on ml.g5.xlarge
    get_services().hosting_instance_type = "ml.g5.xlarge"
    response = api.call("POST", f"/models/{model}/generations", {"prompt": "hi", "num_images": 2})
    assert response["statusCode"] == 400
    assert "at most 12,500,000 per minute" in response_json(response)["error"]["message"]
    assert api.hosting.calls == []


def test_generations_in_flight(api: Api, model: str) -> None:
    limits = quotas(generations_in_flight=1)
    limits.take_generation(ALICE_OWNER, "elsewhere", 1, None, hold_seconds=60)  # one still rendering
    assert_quota_exceeded(
        api.call("POST", f"/models/{model}/generations", {"prompt": "hi"}),
        "at most 1 generation(s) per owner at a time",
    )
    limits.take_generation(owner_id(BOB), "bobs", 1, None, hold_seconds=60)  # per owner
    limits.release_generation(ALICE_OWNER, "elsewhere")
    assert generate(api, model)["statusCode"] == 200
    assert generate(api, model)["statusCode"] == 200  # each answered generation released its slot


def test_a_failed_generation_releases_its_slot(api: Api, model: str) -> None:
    quotas(generations_in_flight=1)
    api.hosting.queue_error("invoke_endpoint", "InternalFailure", 500)
    assert api.call("POST", f"/models/{model}/generations", {"prompt": "hi"})["statusCode"] >= 500
    assert generate(api, model)["statusCode"] == 200


def test_a_dead_generations_slot_is_reclaimed(api: Api, model: str) -> None:
    limits = quotas(generations_in_flight=1)
    limits.take_generation(ALICE_OWNER, "crashed", 1, None, hold_seconds=60)
    now = limits.clock()
    limits.clock = lambda: now + 61
    assert generate(api, model)["statusCode"] == 200


def test_concurrent_generations_cannot_overshoot_the_in_flight_cap(api: Api) -> None:
    limits = quotas(generations_in_flight=2, generations_per_minute=100)
    barrier = threading.Barrier(6)

    def take(index: int) -> bool:
        barrier.wait()
        try:
            limits.take_generation(ALICE_OWNER, f"g{index}", 1, None, hold_seconds=60)
        except QuotaExceeded:
            return False
        return True

    with ThreadPoolExecutor(6) as pool:
        taken = list(pool.map(take, range(6)))
    assert sorted(taken) == [False, False, False, False, True, True]
