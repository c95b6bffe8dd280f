"""The caller's models: listing them and erasing one with everything it was made from."""

from __future__ import annotations

import logging

from pydantic import BaseModel, Field

from avatar_api.adapters.cursors import make_cursor, read_cursor
from avatar_api.domain.records import TrainingRecord
from avatar_api.domain.services import Services
from avatar_api.domain.status import TrainingState, is_async_location, training_state
from avatar_api.errors import Conflict, NotFound
from avatar_api.settings import MODELS_PAGE_DEFAULT
from avatar_contract import keys
from avatar_contract.keys import split_s3_uri
from avatar_contract.status import TrainingStatus

log = logging.getLogger(__name__)


class ModelSummary(BaseModel):
    model_id: str
    name: str | None
    created: str
    training_id: str
    status: TrainingStatus


class ModelList(BaseModel):
    """What GET /models answers: one page of the caller's models."""

    models: list[ModelSummary]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null: this is the last page"
    )


class ModelDeletion(BaseModel):
    """What DELETE /models/{model_id} answers."""

    model_id: str
    training_id: str
    deleted: bool = True
    deleted_objects: int


def list_models(
    services: Services, owner: str, *, limit: int = MODELS_PAGE_DEFAULT, cursor: str | None = None
) -> ModelList:
    """One page of the models the owner has started training, with their trainings' status: up to
    `limit`, in a stable order (by training id, not by time), after `cursor`. Its cost is one listing
    and `limit` records, however many models the owner has."""
    after = read_cursor(services.owner_ids, owner, "models", cursor, keys.TRAINING_ID_RE) if cursor else None
    records, last = services.records.page_for(owner, after, limit)
    summaries = [
        ModelSummary(
            model_id=record.model_id,
            name=record.model_name,
            created=record.created,
            training_id=record.training_id,
            status=training_state(services, owner, record).status,
        )
        for record in records
    ]
    next_cursor = make_cursor(services.owner_ids, owner, "models", last) if last else None
    return ModelList(models=summaries, next_cursor=next_cursor)


def find_record(services: Services, owner: str, model_id: str) -> TrainingRecord:
    """The owner's training record of `model_id`; NotFound for unknown and other owners' models."""
    record = services.records.find_by_model(owner, model_id)
    if record is None:
        raise NotFound(f"model {model_id!r} not found")
    return record


def find_model(services: Services, owner: str, model_id: str) -> tuple[TrainingRecord, TrainingState]:
    """The owner's record of `model_id` and its training's status."""
    record = find_record(services, owner, model_id)
    return record, training_state(services, owner, record)


def delete_model(services: Services, owner: str, model_id: str) -> ModelDeletion:
    """Erase the artifact, the training input/record/previews, the async output and failure objects,
    stored generations and the idempotency record (its key is free again). The record goes last, so a
    failed delete can be retried."""
    record, state = find_model(services, owner, model_id)
    if state.status == TrainingStatus.QUEUED:
        raise Conflict(
            f"model {model_id!r} is still training; delete it once GET /trainings/{record.training_id} "
            "reports completed or failed"
        )
    deleted = 0
    model_key = keys.model_key(owner, model_id)
    if services.hosting.exists(model_key):
        services.hosting.delete(model_key)
        deleted += 1
    for location in (record.output_location, record.failure_location):
        if not location:
            continue
        if is_async_location(services, location):
            key = split_s3_uri(location)[1]
            if services.data.exists(key):
                services.data.delete(key)
                deleted += 1
        else:
            log.warning(
                "async location outside the data bucket's async prefixes left alone", extra={"uri": location}
            )
    deleted += services.data.delete_prefix(keys.generation_model_prefix(owner, model_id))
    if record.idempotency_record and services.submissions.forget(record.idempotency_record):
        deleted += 1
    # Everything under trainings/<owner>/<training_id>/ (input, previews), then the record and its entry.
    record_key = services.records.record_key(owner, record)
    for key in services.data.list_keys(keys.training_prefix(owner, record.training_id)):
        if key != record_key:
            services.data.delete(key)
            deleted += 1
    deleted += services.records.delete(owner, record)
    return ModelDeletion(model_id=model_id, training_id=record.training_id, deleted_objects=deleted)
