"""Idempotent training submission: the client's key is bound to one training by an S3 conditional
write (`idempotency/<owner>/<sha256(key)>.json`), so concurrent retries start exactly one."""

from __future__ import annotations

from pydantic import BaseModel

from avatar_api.aws import AlreadyExists
from avatar_api.errors import IdempotencyKeyReused, ServiceUnavailable
from avatar_api.services import Services
from avatar_contract import keys


class IdempotencyClaim(BaseModel):
    """Which training a client's idempotency key started, and a digest of the request it came with."""

    training_id: str
    model_id: str
    fingerprint: str
    created: str


def claim(
    services: Services, owner: str, client_key: str, wanted: IdempotencyClaim
) -> IdempotencyClaim | None:
    """Atomically bind `client_key` to the training in `wanted`. Returns None when this request won the
    key, or the earlier claim when an identical request already did (IdempotencyKeyReused for a
    different request)."""
    claim_key = keys.idempotency_key(owner, client_key)
    for _ in range(2):
        try:
            services.data.put_json_if_absent(claim_key, wanted.model_dump())
            return None
        except AlreadyExists:
            document = services.data.get_json(claim_key)
            if document is not None:  # None: the other request just rolled back; try to claim again
                existing = IdempotencyClaim.model_validate(document)
                if existing.fingerprint != wanted.fingerprint:
                    raise IdempotencyKeyReused(
                        "Idempotency-Key was already used for a different training request"
                    ) from None
                return existing
    raise ServiceUnavailable(
        "a request with the same Idempotency-Key is being processed; retry", retry_after=2
    )
