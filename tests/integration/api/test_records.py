"""The training records on moto's S3: conditional create and replace, lookup by model, listing."""

from __future__ import annotations

import json

import pytest

from avatar_api.adapters.records import TrainingRecords
from avatar_api.domain.records import TrainingRecord
from avatar_api.errors import AlreadyExists, Changed
from avatar_api.services import get_services
from avatar_contract import keys
from tests.fixtures.api import ALICE, BOB, owner_id
from tests.fixtures.api_backend import DATA_BUCKET, Api

OWNER = owner_id(ALICE)


def record(**changes: object) -> TrainingRecord:
    training_id, model_id = keys.new_training_id(), keys.new_model_id()
    fields = {
        "training_id": training_id,
        "model_id": model_id,
        "created": "2026-01-01T00:00:00+00:00",
        "target_model": keys.target_model(OWNER, model_id),
        "input_location": f"s3://{DATA_BUCKET}/{keys.training_input_key(OWNER, training_id)}",
        "model_s3_uri": f"s3://hosting/{keys.model_key(OWNER, model_id)}",
        "preview_s3_prefix": f"s3://{DATA_BUCKET}/{keys.preview_prefix(OWNER, training_id)}",
        "image_count": 10,
    }
    return TrainingRecord.model_validate(fields | changes)


@pytest.fixture
def records(api: Api) -> TrainingRecords:
    return get_services().records


def test_a_created_record_loads_by_training_and_by_model(records: TrainingRecords) -> None:
    stored = record(model_name="me")
    records.create(OWNER, stored)
    assert records.load(OWNER, stored.training_id) == stored
    assert records.find_by_model(OWNER, stored.model_id) == stored
    # another owner's ids, unknown and malformed ids are not found
    assert records.load(owner_id(BOB), stored.training_id) is None
    assert records.find_by_model(owner_id(BOB), stored.model_id) is None
    assert records.find_by_model(OWNER, keys.new_model_id()) is None
    assert records.load(OWNER, "../../x") is None and records.find_by_model(OWNER, "m-../x") is None


def test_create_refuses_to_overwrite(records: TrainingRecords) -> None:
    stored = record()
    records.create(OWNER, stored)
    with pytest.raises(AlreadyExists):
        records.create(OWNER, stored.model_copy(update={"model_name": "other"}))
    assert records.load(OWNER, stored.training_id) == stored


def test_replace_needs_the_version_it_was_given(records: TrainingRecords) -> None:
    stored = record()
    etag = records.create(OWNER, stored)
    queued = stored.model_copy(update={"output_location": f"s3://{DATA_BUCKET}/async-outputs/x.out"})
    new_etag = records.replace(OWNER, queued, etag)
    assert records.load(OWNER, stored.training_id) == queued
    with pytest.raises(Changed):
        records.replace(OWNER, stored, etag)  # stale: someone wrote since
    assert records.load(OWNER, stored.training_id) == queued
    records.delete(OWNER, queued)
    with pytest.raises(Changed):
        records.replace(OWNER, queued, new_etag)  # gone


def test_list_returns_each_record_of_the_owner_once(api: Api, records: TrainingRecords) -> None:
    mine = [record(), record()]
    for item in mine:
        records.create(OWNER, item)
    bobs = record()
    records.create(owner_id(BOB), bobs)
    listed, after = records.page_for(OWNER, None, 10)
    assert sorted(r.training_id for r in listed) == sorted(r.training_id for r in mine) and after is None
    assert any("/by-model/" in key for key in api.object_keys())  # the model entries are not listed


def test_an_unreadable_record_is_absent_not_an_error(api: Api, records: TrainingRecords) -> None:
    stored = record()
    records.create(OWNER, stored)
    key = keys.training_record_key(OWNER, stored.training_id)
    for body in (json.dumps({"training_id": stored.training_id}), "not json"):
        api.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)
        assert records.load(OWNER, stored.training_id) is None
        assert records.find_by_model(OWNER, stored.model_id) is None


def test_delete_removes_the_record_and_its_model_entry(api: Api, records: TrainingRecords) -> None:
    stored = record()
    records.create(OWNER, stored)
    assert records.delete(OWNER, stored) == 2
    assert api.object_keys() == []


def test_a_colliding_create_leaves_the_other_trainings_objects_alone(
    api: Api, records: TrainingRecords
) -> None:
    first = record()
    records.create(OWNER, first)
    before = api.object_keys()
    with pytest.raises(AlreadyExists):  # same model id, another training
        records.create(OWNER, record(model_id=first.model_id))
    with pytest.raises(AlreadyExists):  # same training id, another model: the new entry is removed again
        records.create(OWNER, first.model_copy(update={"model_id": keys.new_model_id()}))
    assert api.object_keys() == before
    assert records.find_by_model(OWNER, first.model_id) == first
