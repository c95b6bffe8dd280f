"""`GET /trainings/{id}` carries the training container's progress object while the training is queued."""

from __future__ import annotations

from avatar_contract import keys
from avatar_contract.keys import split_s3_uri
from avatar_contract.progress import TrainingProgress
from avatar_contract.training import TrainingFailure
from tests.fixtures.api import ALICE, owner_id, response_json, selfies
from tests.fixtures.api_backend import DATA_BUCKET, Api

ALICE_OWNER = owner_id(ALICE)
RUNNING = TrainingProgress(
    phase="training",
    step=120,
    total_steps=800,
    loss=0.0731,
    elapsed_seconds=95.2,
    eta_seconds=410.0,
    updated="2026-12-01T23:00:05+00:00",
)


def _start(api: Api) -> tuple[str, str]:
    """A queued training: its id and its failure location."""
    _, failure = api.queue_training()
    return response_json(api.call("POST", "/trainings", {"images": selfies()}))["training_id"], failure


def _status(api: Api, training_id: str) -> dict:
    response = api.call("GET", f"/trainings/{training_id}")
    assert response["statusCode"] == 200, response["body"]
    return response_json(response)


def test_progress_is_null_until_the_container_writes_it_then_returned_as_written(api: Api) -> None:
    training_id, _ = _start(api)
    before = _status(api, training_id)
    assert before["status"] == "queued" and before["progress"] is None

    api.s3.put_object(
        Bucket=DATA_BUCKET, Key=keys.progress_key(ALICE_OWNER, training_id), Body=RUNNING.model_dump_json()
    )
    status = _status(api, training_id)

    assert status["status"] == "queued"
    assert status["progress"] == {**RUNNING.model_dump(), "queue_position": None}
    assert set(status["progress"]) == {
        "phase", "step", "total_steps", "loss", "elapsed_seconds", "eta_seconds", "updated", "queue_position",
    }  # fmt: skip


def test_progress_is_dropped_once_the_training_has_an_outcome(api: Api) -> None:
    training_id, failure = _start(api)
    final = RUNNING.model_copy(update={"phase": "failed", "eta_seconds": None})
    api.s3.put_object(
        Bucket=DATA_BUCKET, Key=keys.progress_key(ALICE_OWNER, training_id), Body=final.model_dump_json()
    )
    assert _status(api, training_id)["progress"]["phase"] == "failed"  # outcome not written yet
    body = TrainingFailure(training_id=training_id, reason="training cancelled").model_dump_json()
    api.s3.put_object(Bucket=DATA_BUCKET, Key=split_s3_uri(failure)[1], Body=body.encode())

    status = _status(api, training_id)

    assert status["status"] == "failed" and status["progress"] is None


def test_an_unreadable_progress_object_reads_as_none(api: Api) -> None:
    training_id, _ = _start(api)
    key = keys.progress_key(ALICE_OWNER, training_id)
    for body in (b"not json", b'{"phase": "sleeping", "updated": "x"}'):
        api.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)
        assert _status(api, training_id)["progress"] is None


def test_deleting_the_model_erases_the_progress_object(api: Api) -> None:
    training_id, failure = _start(api)
    key = keys.progress_key(ALICE_OWNER, training_id)
    api.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=RUNNING.model_dump_json())
    body = TrainingFailure(training_id=training_id, reason="no").model_dump_json()
    api.s3.put_object(Bucket=DATA_BUCKET, Key=split_s3_uri(failure)[1], Body=body.encode())
    model_id = _status(api, training_id)["model_id"]

    assert api.call("DELETE", f"/models/{model_id}")["statusCode"] == 200
    assert key not in api.object_keys()
