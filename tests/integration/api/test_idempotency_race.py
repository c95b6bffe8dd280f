"""The two races of idempotent submission (Powertools Idempotency on moto's DynamoDB): concurrent
identical requests start exactly one training, and a crashed attempt's key is usable after its expiry."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from avatar_api.adapters.aws import TrainingEndpointClient
from avatar_api.domain.trainings import NewTraining, start_training
from avatar_api.domain.uploads import InlineImage
from avatar_api.errors import RequestInProgress
from avatar_api.routers.common import error_headers
from avatar_api.services import get_services
from avatar_contract.training import TrainingHyperparameters
from tests.fixtures.api import ALICE, header, image_bytes, owner_id, selfies
from tests.fixtures.api_backend import DATA_BUCKET, STATE_TABLE, Api


class CountingSageMakerRuntime:
    """Answers InvokeEndpointAsync as SageMaker does and records each InferenceId it is sent; while
    `hold` is set, each call waits for `release` (the first request is still running)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.hold = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def invoke_endpoint_async(self, *, InferenceId: str, **_: Any) -> dict[str, str]:
        with self.lock:
            self.calls.append(InferenceId)
        if self.hold:
            self.entered.set()
            assert self.release.wait(30)
        return {
            "InferenceId": InferenceId,
            "OutputLocation": f"s3://{DATA_BUCKET}/async-outputs/{InferenceId}.out",
            "FailureLocation": f"s3://{DATA_BUCKET}/async-failures/{InferenceId}-error.out",
        }


class Crash(BaseException):
    """The function dying mid-request (timeout, out of memory): no `except Exception` runs."""


def _request(key: str) -> NewTraining:
    return NewTraining(
        images=[InlineImage(image_bytes(seed=i)) for i in range(10)],
        hyperparameters=TrainingHyperparameters(),
        idempotency_key=key,
    )


def test_concurrent_identical_requests_start_exactly_one_training(api: Api) -> None:
    services = get_services()
    runtime = CountingSageMakerRuntime()
    services.training_endpoint = TrainingEndpointClient("avatar-training", runtime)
    request, owner = _request("race"), owner_id(ALICE)
    barrier = threading.Barrier(6)

    def submit(_: int) -> str:
        barrier.wait()
        try:
            return start_training(services, owner, request).training_id
        except RequestInProgress as error:
            assert error_headers(error)["Retry-After"]
            return "in-progress"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(submit, range(6)))

    started = {outcome for outcome in outcomes if outcome != "in-progress"}
    assert len(started) == 1, outcomes
    assert runtime.calls == list(started)
    assert len([k for k in api.object_keys() if k.endswith("input.tar.gz")]) == 1
    # Once the first is done, a retry replays it.
    again = start_training(services, owner, request)
    assert again.replayed and {again.training_id} == started and len(runtime.calls) == 1


def test_a_retry_while_the_first_attempt_runs_is_409_request_in_progress(api: Api) -> None:
    runtime = CountingSageMakerRuntime()
    runtime.hold = True
    get_services().training_endpoint = TrainingEndpointClient("avatar-training", runtime)
    body = {"images": selfies()}
    headers = {"Idempotency-Key": "slow"}
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(api.call, "POST", "/trainings", body, headers=headers)
        assert runtime.entered.wait(30)
        retry = api.call("POST", "/trainings", body, headers=headers)
        runtime.release.set()
        accepted = first.result(30)

    assert retry["statusCode"] == 409, retry["body"]
    assert json.loads(retry["body"])["error"]["code"] == "request_in_progress"
    assert int(header(retry, "Retry-After") or 0) > 0
    assert accepted["statusCode"] == 202
    replay = api.call("POST", "/trainings", body, headers=headers)
    assert replay["statusCode"] == 202 and json.loads(replay["body"])["replayed"] is True
    assert len(runtime.calls) == 1


def test_a_crashed_attempt_frees_its_key_after_the_in_progress_expiry(api: Api) -> None:
    services = get_services()
    runtime = CountingSageMakerRuntime()
    services.training_endpoint = TrainingEndpointClient("avatar-training", runtime)
    # One training at a time: the crashed attempt's slot must come back with its key.
    services.quotas.limits = type(services.quotas.limits)(concurrent_trainings=1)
    # The attempt may run 8 s (the invocation's remaining time, which the router passes in).
    request, owner = dataclasses.replace(_request("crash"), attempt_seconds=8.0), owner_id(ALICE)

    real_invoke = runtime.invoke_endpoint_async

    def crash(**kwargs: Any) -> dict[str, str]:
        raise Crash

    runtime.invoke_endpoint_async = crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        start_training(services, owner, request)
    record = api.dynamodb.get_item(
        TableName=STATE_TABLE, Key={"pk": {"S": services.submissions.record_key(owner, "crash")}}
    )["Item"]
    assert record["status"]["S"] == "INPROGRESS"  # left behind, as a dead function leaves it

    with pytest.raises(RequestInProgress):  # before the expiry the key is still taken
        start_training(services, owner, request)

    expiry = int(record["in_progress_expiration"]["N"]) / 1000  # start + the function's remaining time
    assert 0 < expiry - time.time() < 8
    time.sleep(max(0.0, expiry - time.time()) + 0.2)
    runtime.invoke_endpoint_async = real_invoke  # type: ignore[method-assign]
    accepted = start_training(services, owner, request)
    assert accepted.replayed is False and runtime.calls == [accepted.training_id]
    assert start_training(services, owner, request).training_id == accepted.training_id
