"""The one data-access layer of the training record (`domain.records.TrainingRecord`, stored at
`trainings/<owner>/<training_id>/training.json`). Next to each record,
`trainings/<owner>/by-model/<model_id>.json` names the training of a model, so a model's record is one
read away (no listing of the owner's records). Writes are conditional: a record is created only if
absent, and replaced only if unchanged since.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from avatar_api.adapters.aws import Bucket
from avatar_api.domain.records import TrainingRecord
from avatar_contract import keys
from avatar_contract.names import Prefix

log = logging.getLogger(__name__)
UNREADABLE = "unreadable training record (treated as absent)"


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
            log.error(UNREADABLE, extra={"key": key})
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
        return self.bucket.get_model(key, TrainingRecord, unreadable=UNREADABLE)
