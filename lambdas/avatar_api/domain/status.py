"""A training's status (step 6): derived from what SageMaker's async endpoint wrote.

Status has one source of truth: the objects the async endpoint writes (output on success, failure on
error), and for a success the model publisher's verdict (`keys.publication_key`, issue 21 M1): the
training container only stages its model, so a training is completed once its model is published, failed
with the publisher's reason if refused, and queued (phase `publishing`) in between. The training record
only says where those objects will appear. When it cannot say (the rewrite after InvokeEndpointAsync
failed, or the function timed out there), S3 still does: a published artifact means completed, and a
training with no outcome after `TRAINING_DEADLINE_SECONDS` died without a notification and is failed
(docs/limits.md).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from avatar_api.domain.previews import WithheldPreview, shown_previews
from avatar_api.domain.records import TrainingRecord, Webhook
from avatar_api.domain.services import Services
from avatar_api.errors import NotFound, redact
from avatar_api.settings import FAILURE_REASON_MAX_CHARS, TRAINING_DEADLINE_SECONDS
from avatar_contract import keys
from avatar_contract.keys import split_s3_uri
from avatar_contract.names import Prefix
from avatar_contract.progress import TrainingProgress
from avatar_contract.publishing import Publication
from avatar_contract.status import TrainingStatus
from avatar_contract.training import TrainingFailure, TrainingResult

log = logging.getLogger(__name__)


class TrainingState(BaseModel):
    """What GET /trainings/{training_id} answers."""

    training_id: str
    model_id: str
    model_name: str | None
    created: str
    status: TrainingStatus
    target_model: str
    reason: str | None = None
    metrics: dict[str, Any] | None = None
    preview_urls: list[str] = Field(
        default_factory=list, description="Presigned URLs of the previews content moderation let through"
    )
    previews_withheld: list[WithheldPreview] = Field(
        default_factory=list, description="Previews not shown: flagged (with the labels) or not screened yet"
    )
    progress: TrainingProgress | None = Field(
        None, description="While queued: what the training container last wrote; null before it starts"
    )
    webhook: Webhook | None = Field(None, description="The webhook given at submission and its attempts")


def get_training(services: Services, owner: str, training_id: str) -> TrainingState:
    record, etag = _load(services, owner, training_id)
    state = training_state(services, owner, record, previews_etag=etag)
    if state.status != TrainingStatus.QUEUED:
        return state
    return state.model_copy(update={"progress": read_progress(services, owner, record.training_id)})


def status_of(services: Services, owner: str, training_id: str) -> TrainingStatus:
    """The owner's training's status alone (no previews screened, no progress read); NotFound as
    `get_training`."""
    record, _ = _load(services, owner, training_id)
    return training_state(services, owner, record).status


def _load(services: Services, owner: str, training_id: str) -> tuple[TrainingRecord, str]:
    loaded = services.records.load_versioned(owner, training_id)
    if loaded is None:
        raise NotFound(f"training {training_id!r} not found")
    return loaded


def read_progress(services: Services, owner: str, training_id: str) -> TrainingProgress | None:
    """The progress object of a training (None when none was written yet, or it is unreadable).

    `queue_position` stays null: SageMaker's async queue cannot be inspected per request (docs/api.md)."""
    key = keys.progress_key(owner, training_id)
    unreadable = "unreadable training progress (ignored)"
    return services.data.get_model(key, TrainingProgress, unreadable=unreadable, level=logging.WARNING)


def training_state(
    services: Services, owner: str, record: TrainingRecord, *, previews_etag: str | None = None
) -> TrainingState:
    """Output and published -> completed, failure or refused -> failed, otherwise queued. The previews
    only with `previews_etag` (the record's ETag: screened first, the verdicts kept, `domain.previews`)."""
    return training_outcome(services, owner, record, previews_etag=previews_etag)[0]


def training_outcome(
    services: Services, owner: str, record: TrainingRecord, *, previews_etag: str | None = None
) -> tuple[TrainingState, TrainingResult | None]:
    """`training_state`, and the training's result as the container wrote it when it is completed and
    readable (the async output is read once)."""
    base = record.model_dump(include={"training_id", "model_id", "model_name", "created", "target_model"})
    base["webhook"] = record.webhook
    output = _read_location(services, record.output_location)
    if output is not None:
        try:
            result = TrainingResult.model_validate_json(output)
        except ValidationError:
            reason = "the training returned an unreadable result"
            return TrainingState(**base, status=TrainingStatus.FAILED, reason=reason), None
        publication = read_publication(services, owner, record)
        if publication is None:
            if _age_seconds(record.created) > TRAINING_DEADLINE_SECONDS:
                reason = "the trained model was not published in time"
                return TrainingState(**base, status=TrainingStatus.FAILED, reason=reason), None
            return TrainingState(**base, status=TrainingStatus.QUEUED), None  # the publisher has not decided
        if publication.status == "refused":
            reason = redact(publication.reason or "the trained model was not published")[
                :FAILURE_REASON_MAX_CHARS
            ]
            return TrainingState(**base, status=TrainingStatus.FAILED, reason=reason), None
        urls: list[str] = []
        withheld: list[WithheldPreview] = []
        if previews_etag is not None:
            preview_keys = _preview_keys(services, owner, record, result.metrics.preview_image_keys)
            urls, withheld = shown_previews(services, owner, record, previews_etag, preview_keys)
        state = TrainingState(
            **base,
            status=TrainingStatus.COMPLETED,
            metrics=result.metrics.model_dump(exclude={"preview_image_keys"}),
            preview_urls=urls,
            previews_withheld=withheld,
        )
        return state, result
    failure = _read_location(services, record.failure_location)
    if failure is not None:
        return TrainingState(**base, status=TrainingStatus.FAILED, reason=_failure_reason(failure)), None
    if services.hosting.exists(keys.model_key(owner, record.model_id)):
        # Published; its output is not (yet) readable.
        return TrainingState(**base, status=TrainingStatus.COMPLETED), None
    if _age_seconds(record.created) > TRAINING_DEADLINE_SECONDS:
        return TrainingState(
            **base,
            status=TrainingStatus.FAILED,
            reason=f"no outcome {TRAINING_DEADLINE_SECONDS} s after the training was queued: its job ended "
            "without a notification",
        ), None
    return TrainingState(**base, status=TrainingStatus.QUEUED), None


def read_publication(services: Services, owner: str, record: TrainingRecord) -> Publication | None:
    """The publisher's verdict on the training's model (None: not decided yet, or unreadable)."""
    body = services.data.get_bytes(keys.publication_key(owner, record.training_id))
    if body is None:
        return None
    try:
        publication = Publication.model_validate_json(body)
    except ValidationError:
        log.warning("unreadable publication verdict (ignored)", extra={"training_id": record.training_id})
        return None
    return publication if publication.model_id == record.model_id else None


def _age_seconds(created: str) -> float:
    try:
        started = datetime.fromisoformat(created)
    except ValueError:
        return 0.0
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return (datetime.now(UTC) - started).total_seconds()


def is_async_location(services: Services, uri: str) -> bool:
    """True for `s3://<data bucket>/async-outputs/...` and `.../async-failures/...` (what the
    endpoint's AsyncInferenceConfig names); the API reads and erases nothing else through a record."""
    bucket_name, key = split_s3_uri(uri)
    return bucket_name == services.data.name and key.startswith((Prefix.ASYNC_OUTPUTS, Prefix.ASYNC_FAILURES))


def _read_location(services: Services, uri: str | None) -> bytes | None:
    if not uri:
        return None
    bucket_name, key = split_s3_uri(uri)
    if not key.startswith((Prefix.ASYNC_OUTPUTS, Prefix.ASYNC_FAILURES)):
        return None
    return services.bucket(bucket_name).get_bytes(key)


def _failure_reason(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace")
    try:
        reason = TrainingFailure.model_validate_json(text).reason
    except ValidationError:
        try:
            document = json.loads(text)
            reason = str(document.get("reason") or document.get("message") or document.get("error") or text)
        except (ValueError, AttributeError):
            reason = text
    return redact(reason)[:FAILURE_REASON_MAX_CHARS] or "training failed"


def _preview_keys(
    services: Services, owner: str, record: TrainingRecord, preview_keys: list[str]
) -> list[str]:
    """The previews' keys, only those inside this training's preview prefix."""
    allowed = keys.preview_prefix(owner, record.training_id)
    found = []
    for entry in preview_keys:
        key = entry
        if entry.startswith("s3://"):
            bucket_name, key = split_s3_uri(entry)
            if bucket_name != services.data.name:
                continue
        if key.startswith(allowed) and ".." not in key:
            found.append(key)
    return found
