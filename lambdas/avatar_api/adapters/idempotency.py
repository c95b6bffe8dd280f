"""Idempotent training submissions: Powertools Idempotency on the state table (DynamoDB).

The record's key is a hash of the owner and the client's Idempotency-Key (`idempotency#trainings#<sha256>`),
so an owner never meets another owner's record; the request's fingerprint is validated against the
record (a different request under the same key is refused). While the first attempt runs its record is
`INPROGRESS` for the attempt's time (`once(..., attempt_seconds=)`, the invocation's remaining time); a
crashed attempt's key is usable again after that. Completed records replay their answer for
`RECORD_SECONDS` (then TTL removes them)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from avatar_api.adapters.quotas import KEY_ATTRIBUTE, TTL_ATTRIBUTE
from avatar_api.errors import IdempotencyKeyReused, RequestInProgress, ServiceUnavailable
from avatar_api.lambda_context import LocalContext

KEY_PREFIX = "idempotency#trainings"
PACK_KEY_PREFIX = "idempotency#packs"  # POST /models/{model_id}/packs (domain.pack_jobs)
# What Powertools hashes into the record's key (`event_key_jmespath` over `_payload`'s fields).
KEY_JMESPATH = "[owner, key]"
HASH_FUNCTION = "sha256"
# How long the same key replays the same training (then it may start a new one).
RECORD_SECONDS = 24 * 3600
IN_PROGRESS_RETRY_AFTER_SECONDS = 5


class Submissions:
    """Runs a submission at most once per (owner, idempotency key)."""

    def __init__(
        self,
        table: str,
        client: Any,
        *,
        record_seconds: int = RECORD_SECONDS,
        key_prefix: str = KEY_PREFIX,
        what: str = "training",
    ) -> None:
        self.table = table
        self.client = client
        self.key_prefix, self.what = key_prefix, what
        self.persistence = DynamoDBPersistenceLayer(
            table_name=table, key_attr=KEY_ATTRIBUTE, expiry_attr=TTL_ATTRIBUTE, boto3_client=client
        )
        self.config = IdempotencyConfig(
            event_key_jmespath=KEY_JMESPATH,
            payload_validation_jmespath="fingerprint",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=record_seconds,
            hash_function=HASH_FUNCTION,
        )
        self.persistence.configure(self.config, key_prefix=key_prefix)

    def record_key(self, owner: str, client_key: str) -> str:
        """The table key of (owner, client_key)'s record (stored with the training, so that deleting the
        model frees the key): Powertools' `<key_prefix>#<hash>`, where the hash is `HASH_FUNCTION` over the
        sorted-key JSON of what `KEY_JMESPATH` selects. Powertools has no public call that returns the key
        it will write, so it is computed here, the way Powertools computes it; a test
        (test_idempotency_keys.py) pins this against the record Powertools actually writes and against a
        stored key, so a Powertools upgrade that changed the format fails there first."""
        selected = json.dumps([owner, client_key], sort_keys=True).encode()
        return f"{self.key_prefix}#{hashlib.new(HASH_FUNCTION, selected).hexdigest()}"

    def once(
        self,
        owner: str,
        client_key: str,
        fingerprint: str,
        submit: Callable[[], dict[str, Any]],
        *,
        attempt_seconds: float,
    ) -> tuple[dict[str, Any], bool]:
        """`submit()`'s result and False, or, when an earlier identical request already ran under this
        key, its stored result and True. A different request under the key: IdempotencyKeyReused; the
        first attempt still running (its record is in progress for `attempt_seconds`): RequestInProgress
        (retryable). If `submit` raises, the record is removed and the key is free again."""
        # Powertools reads the in-progress expiry from a Lambda context: this attempt's.
        attempt = LocalContext.with_remaining(attempt_seconds)
        self.config.register_lambda_context(attempt)  # type: ignore[arg-type]  # reads only the time left
        ran: list[bool] = []

        def run(submission: dict[str, Any]) -> dict[str, Any]:
            ran.append(True)
            return submit()

        once = idempotent_function(
            data_keyword_argument="submission",
            persistence_store=self.persistence,
            config=self.config,
            key_prefix=self.key_prefix,
        )(run)
        try:
            result = once(submission=_payload(owner, client_key, fingerprint))
        except IdempotencyValidationError:
            raise IdempotencyKeyReused(
                f"Idempotency-Key was already used for a different {self.what} request"
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise RequestInProgress(
                "a request with the same Idempotency-Key is still being processed; retry",
                retry_after=IN_PROGRESS_RETRY_AFTER_SECONDS,
            ) from None
        except (IdempotencyPersistenceLayerError, IdempotencyInconsistentStateError) as error:
            raise ServiceUnavailable(
                "the idempotency store is unavailable; retry with the same Idempotency-Key"
            ) from error
        return result, not ran

    def forget(self, record_key: str) -> bool:
        """Delete a submission's record (its model was deleted). Only keys of this kind are touched."""
        if not record_key.startswith(f"{self.key_prefix}#"):
            return False
        self.client.delete_item(TableName=self.table, Key={KEY_ATTRIBUTE: {"S": record_key}})
        return True


def _payload(owner: str, client_key: str, fingerprint: str) -> dict[str, str]:
    return {"owner": owner, "key": client_key, "fingerprint": fingerprint}
