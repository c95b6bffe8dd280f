"""The training record (`trainings/<owner>/<training_id>/training.json`) and its one data-access layer.

The record holds ids and where SageMaker will write the training's outcome; the status itself is read
from those objects (`domain.status`). Next to each record, `trainings/<owner>/by-model/<model_id>.json`
names the training of a model, so a model's record is one read away (no listing of the owner's records).
Writes are conditional: a record is created only if absent, and replaced only if unchanged since.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from avatar_api.aws import Bucket
from avatar_contract import keys
from avatar_contract.names import Prefix

log = logging.getLogger(__name__)

RECORD_SCHEMA_VERSION = 2


class TrainingEventMark(BaseModel):
    """The training event the status consumer derived for this record, and whether it went out."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: str
    status: str
    published: bool = False


class WebhookAttempt(BaseModel):
    """One POST of a training's webhook: when, and the answer's status code or why there was none."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    time: str
    status_code: int | None = None
    error: str | None = None


class Webhook(BaseModel):
    """A training's webhook (docs/events.md, "Webhooks"): its URL and every delivery attempt."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    url: str
    attempts: tuple[WebhookAttempt, ...] = ()
    delivered: bool = Field(False, description="A 2xx answer came back")
    done: bool = Field(False, description="No more attempts: delivered, refused, or out of attempts")


class TrainingRecord(BaseModel):
    """What the API stores about one training (and so about the model it makes)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: int = RECORD_SCHEMA_VERSION
    training_id: str
    model_id: str
    model_name: str | None = None
    created: str
    target_model: str
    input_location: str
    model_s3_uri: str
    preview_s3_prefix: str
    image_count: int
    # What `<<TOK>>` renders as in this model's prompts (moderation renders generation prompts with them);
    # absent in records from before the service picked tokens: the artifact's metadata.json names them.
    token: str | None = None
    class_noun: str | None = None
    # The trained resolution: a generation that names no size renders (and is costed) at it; absent in
    # records from before, whose generations default to the base model's native size.
    resolution: int | None = None
    # The base family it is trained on (avatar_contract.families); absent in records from before
    # families, whose models are sd21-base (`families.family_of`).
    base_family: str | None = None
    # The state table key of the idempotency record that started it (deleting the model frees the key).
    idempotency_record: str | None = None
    # Set once InvokeEndpointAsync has queued the training (SageMaker's OutputLocation/FailureLocation).
    inference_id: str | None = None
    output_location: str | None = None
    failure_location: str | None = None
    # Set by the status consumer (domain.events) from SageMaker's notification and the async output it
    # names: a copy for deduplication and webhooks, never read as the status (domain.status reads S3).
    event: TrainingEventMark | None = None
    # Given at submission; its attempts are recorded by the status consumer (domain.webhooks).
    webhook: Webhook | None = None
    # Preview key -> the moderation labels that withhold it (empty: shown), once screened (domain.previews).
    preview_labels: dict[str, list[dict[str, str | float]]] | None = None


class _ModelEntry(BaseModel):
    training_id: str


@dataclass(frozen=True)
class TrainingRecords:
    """Load, save (with conditions), find, list and delete training records in the data bucket."""

    bucket: Bucket

    def load(self, owner: str, training_id: str) -> TrainingRecord | None:
        """The owner's record of `training_id`; None for unknown, malformed or another owner's ids."""
        if not keys.TRAINING_ID_RE.fullmatch(training_id):
            return None
        return self._read(keys.training_record_key(owner, training_id))

    def load_versioned(self, owner: str, training_id: str) -> tuple[TrainingRecord, str] | None:
        """The owner's record of `training_id` and its ETag (for `replace`); None as for `load`."""
        if not keys.TRAINING_ID_RE.fullmatch(training_id):
            return None
        key = keys.training_record_key(owner, training_id)
        found = self.bucket.get_json_versioned(key)
        if found is None:
            return None
        try:
            return TrainingRecord.model_validate(found[0]), found[1]
        except ValidationError:
            log.error("unreadable training record (treated as absent)", extra={"key": key})
            return None

    def find_by_model(self, owner: str, model_id: str) -> TrainingRecord | None:
        """The owner's record of the training that makes `model_id` (two reads at most)."""
        if not keys.MODEL_ID_RE.fullmatch(model_id):
            return None
        entry = self.bucket.get_json(keys.model_entry_key(owner, model_id))
        if entry is None:
            return None
        try:
            training_id = _ModelEntry.model_validate(entry).training_id
        except ValidationError:
            return None
        record = self.load(owner, training_id)
        return record if record is not None and record.model_id == model_id else None

    def page_for(self, owner: str, after: str | None, limit: int) -> tuple[list[TrainingRecord], str | None]:
        """Up to `limit` records of the owner in training-id order, starting after the training `after`
        (None: from the first), and the training id to continue after (None: no more). One listing and
        at most `limit` reads, however many trainings the owner has."""
        prefix = f"{Prefix.TRAININGS}{owner}/"
        # `t-` skips `by-model/`; `<id>/~` sorts after every object of that training, before the next.
        start_after = f"{prefix}{after}/~" if after else f"{prefix}t-"
        folders, more = self.bucket.subprefixes_page(prefix, start_after, limit)
        records = []
        training_id = None
        for folder in folders:
            training_id = folder.rstrip("/").rsplit("/", 1)[-1]
            record = self.load(owner, training_id)
            if record is not None:
                records.append(record)
        return records, (training_id if more and training_id else None)

    def create(self, owner: str, record: TrainingRecord) -> str:
        """Store a new record and its model entry, both or neither; AlreadyExists if either is there
        (then nothing of another training is touched). Returns the record's ETag (for `replace`)."""
        entry_key = keys.model_entry_key(owner, record.model_id)
        self.bucket.put_json_if_absent(entry_key, {"training_id": record.training_id})
        try:
            return self.bucket.put_json_if_absent(
                self.record_key(owner, record), record.model_dump(mode="json")
            )
        except Exception:
            self.bucket.delete(entry_key)
            raise

    def replace(self, owner: str, record: TrainingRecord, etag: str) -> str:
        """Overwrite the record only if it is still the version with `etag` (Changed otherwise)."""
        return self.bucket.put_json_if_unchanged(
            self.record_key(owner, record), record.model_dump(mode="json"), etag
        )

    def delete(self, owner: str, record: TrainingRecord) -> int:
        """The record, then its model entry (an entry without a record reads as no model). Returns how
        many objects that is."""
        self.bucket.delete(self.record_key(owner, record))
        self.bucket.delete(keys.model_entry_key(owner, record.model_id))
        return 2

    def written_keys(self, owner: str, record: TrainingRecord) -> list[str]:
        """The objects a successful `create` wrote, in order (to roll a failed submission back)."""
        return [keys.model_entry_key(owner, record.model_id), self.record_key(owner, record)]

    @staticmethod
    def record_key(owner: str, record: TrainingRecord) -> str:
        return keys.training_record_key(owner, record.training_id)

    def _read(self, key: str) -> TrainingRecord | None:
        document = self.bucket.get_json(key)
        if document is None:
            return None
        try:
            return TrainingRecord.model_validate(document)
        except ValidationError:
            log.error("unreadable training record (treated as absent)", extra={"key": key})
            return None
