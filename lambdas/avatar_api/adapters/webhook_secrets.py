"""Rotating an owner's webhook secret (docs/events.md, "Rotating the secret").

The secret of generation `n` is derived from the owner-id key (`OwnerIds.webhook_key`), so what is stored
is only which generation is current, which one was before it and until when that one is still accepted:
`trainings/<owner>/_webhook-secret.json` in the data bucket, written conditionally (two rotations at once:
one wins, the other is told to retry). Until the first rotation there is no object and generation 0 is
current. While the previous secret is in its grace period, deliveries are signed with both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from avatar_api.adapters.aws import Bucket
from avatar_api.adapters.owner_ids import OwnerIds
from avatar_api.errors import AlreadyExists, Changed
from avatar_api.settings import WEBHOOK_SECRET_GRACE_SECONDS
from avatar_contract import keys


class SecretState(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    generation: int = 0
    previous_generation: int | None = None
    previous_valid_until: str | None = None  # ISO 8601, UTC
    rotated: str | None = None

    def previous_valid(self, now: datetime) -> bool:
        return (
            self.previous_generation is not None
            and self.previous_valid_until is not None
            and now < datetime.fromisoformat(self.previous_valid_until)
        )


class RotationConflict(Exception):
    """Another rotation of the same owner's secret was stored in between."""


@dataclass(frozen=True)
class WebhookSecrets:
    bucket: Bucket
    owner_ids: OwnerIds

    def state(self, owner: str) -> tuple[SecretState, str | None]:
        """The owner's secret state and its ETag (None: never rotated)."""
        found = self.bucket.get_json_versioned(keys.webhook_secret_key(owner))
        if found is None:
            return SecretState(), None
        return SecretState.model_validate(found[0]), found[1]

    def valid(self, owner: str, now: datetime | None = None) -> list[str]:
        """The secrets a delivery is signed with: the current one, then the previous one in its grace."""
        state, _ = self.state(owner)
        secrets = [self.owner_ids.webhook_key(owner, state.generation)]
        if state.previous_generation is not None and state.previous_valid(now or datetime.now(UTC)):
            secrets.append(self.owner_ids.webhook_key(owner, state.previous_generation))
        return secrets

    def rotate(self, owner: str, now: datetime | None = None) -> SecretState:
        """A new current secret; the one it replaces stays valid for WEBHOOK_SECRET_GRACE_SECONDS (one
        rotated before that stops at once). RotationConflict if another rotation won the race."""
        now = now or datetime.now(UTC)
        state, etag = self.state(owner)
        rotated = SecretState(
            generation=state.generation + 1,
            previous_generation=state.generation,
            previous_valid_until=(now + timedelta(seconds=WEBHOOK_SECRET_GRACE_SECONDS)).isoformat(
                timespec="seconds"
            ),
            rotated=now.isoformat(timespec="seconds"),
        )
        key, document = keys.webhook_secret_key(owner), rotated.model_dump(mode="json")
        try:
            if etag is None:
                self.bucket.put_json_if_absent(key, document)
            else:
                self.bucket.put_json_if_unchanged(key, document, etag)
        except (AlreadyExists, Changed):
            raise RotationConflict(owner) from None
        return rotated
