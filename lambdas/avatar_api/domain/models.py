"""The caller's models: listing them and erasing one with everything it was made from."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from avatar_api.aws import split_s3_uri
from avatar_api.domain.trainings import TrainingStatus, status_from_record
from avatar_api.errors import Conflict, NotFound
from avatar_api.services import Services
from avatar_contract import keys, s3_keys
from avatar_contract.names import Prefix

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSummary:
    model_id: str
    name: str | None
    created: str
    training_id: str
    status: str  # queued | completed | failed


def _records(services: Services, owner: str) -> list[dict[str, Any]]:
    records = []
    for prefix in services.data.list_subprefixes(f"{Prefix.TRAININGS}{owner}/"):
        training_id = prefix.rstrip("/").rsplit("/", 1)[-1]
        if not keys.TRAINING_ID_RE.fullmatch(training_id):
            continue
        record = services.data.get_json(keys.training_record_key(owner, training_id))
        if record is not None:
            records.append(record)
    return records


def list_models(services: Services, owner: str) -> list[ModelSummary]:
    """Every model the owner has started training, newest first, with its training's status."""
    summaries = []
    for record in _records(services, owner):
        status = status_from_record(services, owner, record)
        summaries.append(
            ModelSummary(
                record["model_id"],
                record.get("model_name"),
                record["created"],
                record["training_id"],
                status.status,
            )
        )
    return sorted(summaries, key=lambda item: item.created, reverse=True)


def find_record(services: Services, owner: str, model_id: str) -> dict[str, Any]:
    """The owner's training record of `model_id`; NotFound for unknown and other owners' models.

    Looks through the owner's own training records (an owner has few), so there is no index that could
    disagree with them."""
    if not keys.MODEL_ID_RE.fullmatch(model_id):
        raise NotFound(f"model {model_id!r} not found")
    for record in _records(services, owner):
        if record.get("model_id") == model_id:
            return record
    raise NotFound(f"model {model_id!r} not found")


def find_model(services: Services, owner: str, model_id: str) -> tuple[dict[str, Any], TrainingStatus]:
    """The owner's record of `model_id` and its training's status."""
    record = find_record(services, owner, model_id)
    return record, status_from_record(services, owner, record)


@dataclass(frozen=True)
class Deletion:
    model_id: str
    training_id: str
    deleted_objects: int


def delete_model(services: Services, owner: str, model_id: str) -> Deletion:
    """Erase the artifact, the training input/record/previews, the async output and failure objects,
    stored generations and the idempotency claim. The record goes last, so a failed delete can be retried."""
    record, status = find_model(services, owner, model_id)
    if status.status == "queued":
        raise Conflict(
            f"model {model_id!r} is still training; delete it once GET /trainings/{record['training_id']} "
            "reports completed or failed"
        )
    training_id = record["training_id"]
    deleted = 0
    model_key = keys.model_key(owner, model_id)
    if services.hosting.exists(model_key):
        services.hosting.delete(model_key)
        deleted += 1
    for location in (record.get("output_location"), record.get("failure_location")):
        if not location:
            continue
        bucket_name, key = split_s3_uri(location)
        if bucket_name == services.data.name and key.startswith(
            (Prefix.ASYNC_OUTPUTS, Prefix.ASYNC_FAILURES)
        ):
            if services.data.exists(key):
                services.data.delete(key)
                deleted += 1
        else:
            log.warning(
                "async location outside the data bucket's async prefixes left alone", extra={"uri": location}
            )
    deleted += services.data.delete_prefix(s3_keys.generation_model_prefix(owner, model_id))
    claim = record.get("idempotency_object")
    if claim and claim.startswith(f"{Prefix.IDEMPOTENCY}{owner}/") and services.data.exists(claim):
        services.data.delete(claim)
        deleted += 1
    # Everything under trainings/<owner>/<training_id>/ (input, previews), then the record itself.
    record_key = keys.training_record_key(owner, training_id)
    prefix = keys.training_prefix(owner, training_id)
    for key in services.data.list_keys(prefix):
        if key != record_key:
            services.data.delete(key)
            deleted += 1
    services.data.delete(record_key)
    return Deletion(model_id, training_id, deleted + 1)
