"""Cost bounds (trainings, generations) and status/deletion from what S3 says (docs/limits.md)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from avatar_api.adapters.aws import HostingEndpointClient
from avatar_api.adapters.records import TrainingRecords
from avatar_api.domain import generations
from avatar_api.errors import EndpointError, ModelNotReady, ServiceUnavailable
from avatar_api.routers.common import error_headers, http_status
from avatar_api.services import get_services
from avatar_contract import keys
from avatar_contract.generation import GenArgs
from avatar_contract.training import TrainingHyperparameters
from tests.fixtures.api import ALICE, owner_id, response_json, selfies
from tests.fixtures.api_backend import DATA_BUCKET, HOSTING_BUCKET, Api

ALICE_OWNER = owner_id(ALICE)


@pytest.fixture
def estimates(monkeypatch: pytest.MonkeyPatch) -> list[tuple[TrainingHyperparameters, str]]:
    """The training cost model answers 4000 s for max_train_steps > 1000, else 900 s; calls recorded."""
    calls: list[tuple[TrainingHyperparameters, str]] = []

    def estimate(hyperparameters: TrainingHyperparameters, instance_type: str) -> float:
        calls.append((hyperparameters, instance_type))
        return 4000.0 if hyperparameters.max_train_steps > 1000 else 900.0

    monkeypatch.setattr("avatar_api.domain.limits.estimator", lambda *_: estimate)
    return calls


def test_a_training_estimated_over_the_budget_is_refused_with_the_estimate(api: Api, estimates: list) -> None:
    get_services().training_instance_type = "ml.g5.2xlarge"
    body = {"images": selfies(), "config": {"max_train_steps": 3000}}

    response = api.call("POST", "/trainings", body)

    assert response["statusCode"] == 400, response["body"]
    error = response_json(response)["error"]
    assert error["code"] == "invalid_request"
    assert "4,000 s on ml.g5.2xlarge" in error["message"] and "3300 s" in error["message"]
    assert [(hp.max_train_steps, it) for hp, it in estimates] == [(3000, "ml.g5.2xlarge")]
    assert api.training.calls == [] and api.object_keys() == []


def test_a_training_within_the_budget_is_queued(api: Api, estimates: list) -> None:
    get_services().training_instance_type = "ml.g5.2xlarge"
    api.queue_training()
    response = api.call("POST", "/trainings", {"images": selfies(), "config": {"max_train_steps": 800}})
    assert response["statusCode"] == 202, response["body"]
    assert len(estimates) == 1 and len(api.training.calls) == 1


def test_without_an_instance_type_nothing_is_estimated(api: Api, estimates: list) -> None:
    api.queue_training()
    response = api.call("POST", "/trainings", {"images": selfies(), "config": {"max_train_steps": 3000}})
    assert response["statusCode"] == 202 and estimates == []


def completed_model(api: Api) -> str:
    api.queue_training()
    accepted = response_json(api.call("POST", "/trainings", {"images": selfies()}))
    key = keys.model_key(ALICE_OWNER, accepted["model_id"])
    api.s3.put_object(Bucket=HOSTING_BUCKET, Key=key, Body=b"artifact")
    return accepted["model_id"]


def test_a_generation_over_the_cost_bound_is_refused_naming_the_limit(api: Api) -> None:
    model_id = completed_model(api)
    get_services().hosting_instance_type = "ml.g5.xlarge"
    body = {"prompt": "hi", "num_images": 4, "width": 1024, "height": 1024, "num_inference_steps": 100}

    response = api.call("POST", f"/models/{model_id}/generations", body | {"output_format": "jpeg"})

    assert response["statusCode"] == 400
    message = response_json(response)["error"]["message"]
    assert "419,430,400" in message and "limit on ml.g5.xlarge is 50,000,000" in message
    assert api.hosting.calls == []


def test_png_batches_that_could_exceed_the_response_limit_are_refused_jpeg_is_not(api: Api) -> None:
    model_id = completed_model(api)
    get_services().hosting_instance_type = "ml.g5.xlarge"
    body = {"prompt": "hi", "num_images": 2, "width": 1024, "height": 1024, "num_inference_steps": 10}

    refused = api.call("POST", f"/models/{model_id}/generations", body)
    assert refused["statusCode"] == 400
    assert "use output_format jpeg" in response_json(refused)["error"]["message"]
    assert api.hosting.calls == []

    api.hosting.queue_images([b"\xff\xd8jpeg-1", b"\xff\xd8jpeg-2"])
    accepted = api.call("POST", f"/models/{model_id}/generations", body | {"output_format": "jpeg"})
    assert accepted["statusCode"] == 200, accepted["body"]
    images = response_json(accepted)["images"]
    assert [i["content_type"] for i in images] == ["image/jpeg", "image/jpeg"]
    assert base64.b64decode(images[0]["data"]) == b"\xff\xd8jpeg-1"
    sent = json.loads(json.loads(api.hosting.calls[0][1]["Body"])["inputs"][2]["data"][0])
    assert sent["output_format"] == "jpeg"


def test_a_deleted_model_cannot_be_invoked_through_the_api(api: Api) -> None:
    """A copy may stay cached on an endpoint instance until SageMaker evicts it; the API never reaches it:
    generation checks the artifact (and then the record) before it invokes the endpoint."""
    model_id = completed_model(api)
    api.s3.delete_object(Bucket=HOSTING_BUCKET, Key=keys.model_key(ALICE_OWNER, model_id))
    # The async output never came: the model reads as queued, and generation refuses with 409.
    assert api.call("POST", f"/models/{model_id}/generations", {"prompt": "hi"})["statusCode"] == 409
    api.s3.put_object(Bucket=HOSTING_BUCKET, Key=keys.model_key(ALICE_OWNER, model_id), Body=b"artifact")
    assert api.call("DELETE", f"/models/{model_id}")["statusCode"] == 200

    response = api.call("POST", f"/models/{model_id}/generations", {"prompt": "hi"})

    assert response["statusCode"] == 404
    assert api.hosting.calls == []


def queued_without_locations(api: Api, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A training whose record rewrite after InvokeEndpointAsync failed (twice)."""

    def fail(*_: object, **__: object) -> str:
        raise ConnectionError("S3 unreachable")

    with monkeypatch.context() as patch:
        patch.setattr(TrainingRecords, "replace", fail)
        api.queue_training()
        response = api.call("POST", "/trainings", {"images": selfies()})
    assert response["statusCode"] == 202, response["body"]
    accepted = response_json(response)
    record_key = keys.training_record_key(ALICE_OWNER, accepted["training_id"])
    record = json.loads(api.s3.get_object(Bucket=DATA_BUCKET, Key=record_key)["Body"].read())
    assert record["output_location"] is None
    return accepted


def test_a_record_without_locations_completes_from_the_published_artifact(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepted = queued_without_locations(api, monkeypatch)
    training, model_id = accepted["training_id"], accepted["model_id"]
    assert response_json(api.call("GET", f"/trainings/{training}"))["status"] == "queued"
    assert api.call("DELETE", f"/models/{model_id}")["statusCode"] == 409

    api.s3.put_object(Bucket=HOSTING_BUCKET, Key=keys.model_key(ALICE_OWNER, model_id), Body=b"artifact")

    assert response_json(api.call("GET", f"/trainings/{training}"))["status"] == "completed"
    assert api.call("DELETE", f"/models/{model_id}")["statusCode"] == 200
    assert api.object_keys() == [] and api.object_keys(HOSTING_BUCKET) == []


def test_a_training_with_no_outcome_after_its_deadline_is_failed_and_deletable(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepted = queued_without_locations(api, monkeypatch)
    record_key = keys.training_record_key(ALICE_OWNER, accepted["training_id"])
    record = json.loads(api.s3.get_object(Bucket=DATA_BUCKET, Key=record_key)["Body"].read())
    record["created"] = (datetime.now(UTC) - timedelta(hours=8)).isoformat(timespec="seconds")
    api.s3.put_object(Bucket=DATA_BUCKET, Key=record_key, Body=json.dumps(record).encode())

    state = response_json(api.call("GET", f"/trainings/{accepted['training_id']}"))

    assert state["status"] == "failed" and "without a notification" in state["reason"]
    assert api.call("DELETE", f"/models/{accepted['model_id']}")["statusCode"] == 200
    assert api.object_keys() == []


def test_a_queued_training_within_its_deadline_stays_queued(api: Api) -> None:
    api.queue_training()
    accepted = response_json(api.call("POST", "/trainings", {"images": selfies()}))
    assert response_json(api.call("GET", f"/trainings/{accepted['training_id']}"))["status"] == "queued"
    assert api.call("DELETE", f"/models/{accepted['model_id']}")["statusCode"] == 409


class TimedEndpoint:
    """Answers ModelNotReady `not_ready` times, then `final` (an exception or a response)."""

    name = "avatar-hosting"

    def __init__(self, not_ready: int, final: object) -> None:
        self.not_ready, self.final = not_ready, final
        self.read_timeouts: list[float | None] = []

    def invoke(self, target_model: str, payload: dict, read_timeout: float | None = None) -> dict:
        self.read_timeouts.append(read_timeout)
        if len(self.read_timeouts) <= self.not_ready:
            raise ModelNotReady("loading")
        if isinstance(self.final, Exception):
            raise self.final
        return self.final  # type: ignore[return-value]


def test_each_attempt_waits_only_for_the_time_left_and_a_late_answer_is_a_structured_503(
    api: Api,
) -> None:
    model_id = completed_model(api)
    services = get_services()
    now = [100.0]
    endpoint = TimedEndpoint(2, EndpointError("Read timeout on endpoint URL", code="Timeout", status=504))
    services.hosting_endpoint = endpoint  # type: ignore[assignment]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(ServiceUnavailable) as raised:
        generations.generate(
            services,
            ALICE_OWNER,
            model_id,
            "hi",
            "",
            GenArgs(),
            deadline=127.0,
            sleep=sleep,
            clock=lambda: now[0],
        )

    assert endpoint.read_timeouts == [27.0, 26.0, 24.0]  # the backoff's 1 s and 2 s are counted
    assert http_status(raised.value) == 503 and "Retry-After" in error_headers(raised.value)


def test_no_attempt_starts_after_the_deadline(api: Api) -> None:
    model_id = completed_model(api)
    services = get_services()
    endpoint = TimedEndpoint(0, {})
    services.hosting_endpoint = endpoint  # type: ignore[assignment]
    with pytest.raises(ServiceUnavailable):
        generations.generate(
            services, ALICE_OWNER, model_id, "hi", "", GenArgs(), deadline=0.0, clock=lambda: 1.0
        )
    assert endpoint.read_timeouts == []


def test_the_hosting_client_uses_a_client_with_the_callers_remaining_time() -> None:
    made: list[float] = []

    def make(seconds: float) -> object:
        made.append(seconds)
        return object()

    client = HostingEndpointClient("ep", client="default", make_client=make)
    assert client._client_for(None) == "default"
    first = client._client_for(12.7)
    assert client._client_for(12.2) is first and made == [12]  # rounded down, built once
    assert HostingEndpointClient("ep", client="stub")._client_for(5.0) == "stub"
