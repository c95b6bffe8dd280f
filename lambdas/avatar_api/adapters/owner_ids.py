"""Owner ids under this deployment's key, kept in Secrets Manager (docs/api.md, "Owners"): an HMAC of the
caller's principal (`routers.identity.principal_of`), so no owner id can be computed from a known ARN. The
same key signs page cursors and derives each owner's webhook secret."""

from __future__ import annotations

import hashlib
import hmac

from aws_lambda_powertools.utilities import parameters

from avatar_contract.keys import owner_of

# The key never changes (a new key would re-own every model), so the cached copy never goes stale.
_SECRET_MAX_AGE_SECONDS = 24 * 3600


class OwnerIds:
    """Owner ids under this deployment's key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_secret(cls, secret_id: str) -> OwnerIds:
        """The key in Secrets Manager (created and retained by the stateful stack), fetched once per
        container by Powertools Parameters."""
        value = parameters.get_secret(secret_id, max_age=_SECRET_MAX_AGE_SECONDS)
        if not isinstance(value, str) or not value:
            raise RuntimeError(f"secret {secret_id} holds no owner-id key")
        return cls(value.encode())

    @classmethod
    def deferred(cls, secret_id: str) -> OwnerIds:
        """Like `from_secret`, but the key is fetched on first use (the status consumer reads it only to
        sign a training's webhook)."""
        return _DeferredOwnerIds(secret_id)

    def owner_of(self, principal: str) -> str:
        return owner_of(principal, self._key)

    def mac(self, message: str) -> str:
        """Hex HMAC-SHA256 of `message` under the key (page cursors: avatar_api.adapters.cursors)."""
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def webhook_key(self, owner: str, generation: int = 0) -> str:
        """The owner's webhook signing secret (hex) of `generation` (0 until the first rotation): derived
        from the key, so only the generation is stored, and one owner's secret says nothing about another's
        (docs/events.md, "Webhooks")."""
        message = f"webhook:{owner}" if generation == 0 else f"webhook:{owner}:{generation}"
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()


class _DeferredOwnerIds(OwnerIds):
    def __init__(self, secret_id: str) -> None:
        self._secret_id = secret_id

    def owner_of(self, principal: str) -> str:
        return OwnerIds.from_secret(self._secret_id).owner_of(principal)  # cached by Powertools

    def webhook_key(self, owner: str, generation: int = 0) -> str:
        return OwnerIds.from_secret(self._secret_id).webhook_key(owner, generation)

    def mac(self, message: str) -> str:
        return OwnerIds.from_secret(self._secret_id).mac(message)
