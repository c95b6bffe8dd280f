"""Per-owner quotas in the state table (DynamoDB), each decided by one conditional UpdateItem.

Two kinds of item, both under `quota#<owner>#...` (the idempotency records share the table under
`idempotency#...`, docs/limits.md):

- a **window** counts uses in a fixed UTC window (`...#trainings-day#2026-12-01`,
  `...#generations-minute#<unix minute>`): `ADD used 1` only if `used < limit`; the item expires by TTL;
- a **pool** holds slots by id (`...#training-slots`: one per running training; `...#upload-slots`: a
  batch's count): `ADD used n` and `SET slot:<id> = {n, until}` only if `used <= limit - n`. A slot is
  released by removing exactly that entry (conditional on it, so releasing twice is a no-op), and a
  slot past its `until` (its owner crashed, or the training died unseen) is reclaimed by the next take.

The limits come from the environment (`Env.QUOTA_*`, set from cdk.json by the stacks)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from avatar_api.errors import QuotaExceeded
from avatar_contract.names import Env, StateTable

QUOTA_PREFIX = "quota#"
KEY_ATTRIBUTE = StateTable.KEY_ATTRIBUTE
TTL_ATTRIBUTE = StateTable.TTL_ATTRIBUTE
SLOT_ATTRIBUTE_PREFIX = "slot:"
# How long a window's item outlives its window (TTL deletion is lazy; the key already names the window).
WINDOW_TTL_MARGIN_SECONDS = 3600
# A refused training slot: when to look again (a training takes minutes to hours).
TRAINING_SLOT_RETRY_AFTER_SECONDS = 60


@dataclass(frozen=True)
class QuotaLimits:
    """The per-owner limits (docs/limits.md); defaults are cdk.json's."""

    concurrent_trainings: int = 1
    trainings_per_day: int = 5
    generations_per_minute: int = 20

    @classmethod
    def from_env(cls) -> QuotaLimits:
        default = cls()

        def limit(name: str, fallback: int) -> int:
            return int(os.environ.get(name) or fallback)

        return cls(
            concurrent_trainings=limit(Env.QUOTA_CONCURRENT_TRAININGS, default.concurrent_trainings),
            trainings_per_day=limit(Env.QUOTA_TRAININGS_PER_DAY, default.trainings_per_day),
            generations_per_minute=limit(Env.QUOTA_GENERATIONS_PER_MINUTE, default.generations_per_minute),
        )


def _conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class Quotas:
    """Take and give back an owner's quota. Every decision is one conditional write."""

    def __init__(
        self,
        table: str,
        client: Any,
        limits: QuotaLimits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.client = client
        self.limits = limits or QuotaLimits()
        self.clock = clock

    # --- trainings ---------------------------------------------------------------------------------

    def take_training(self, owner: str, training_id: str, hold_seconds: float) -> None:
        """One of the owner's trainings today and one concurrency slot, held until the status consumer
        calls `release_training` (or for `hold_seconds`, after which the slot is reclaimed).
        QuotaExceeded names the limit; nothing is taken then."""
        now = self.clock()
        day = datetime.fromtimestamp(now, UTC)
        day_end = math.floor(now / 86400 + 1) * 86400
        day_key = f"{QUOTA_PREFIX}{owner}#trainings-day#{day:%Y-%m-%d}"
        self._count(
            day_key,
            self.limits.trainings_per_day,
            expires=day_end,
            refusal=f"at most {self.limits.trainings_per_day} trainings per owner per UTC day",
            retry_after=math.ceil(day_end - now),
        )
        try:
            self._hold(
                self._training_pool(owner),
                training_id,
                1,
                self.limits.concurrent_trainings,
                until=now + hold_seconds,
                refusal=f"at most {self.limits.concurrent_trainings} training(s) per owner at a time",
                retry_after=lambda _: TRAINING_SLOT_RETRY_AFTER_SECONDS,
            )
        except Exception:
            self._uncount(day_key)
            raise

    def keep_training(self, owner: str, training_id: str, hold_seconds: float) -> None:
        """The training is queued: hold its slot until `release_training` or for `hold_seconds`."""
        until = self.clock() + hold_seconds
        try:
            self.client.update_item(
                TableName=self.table,
                Key={KEY_ATTRIBUTE: {"S": self._training_pool(owner)}},
                UpdateExpression="SET #slot.#until = :until, #ttl = :ttl",
                ConditionExpression="attribute_exists(#slot)",
                ExpressionAttributeNames={
                    "#slot": SLOT_ATTRIBUTE_PREFIX + training_id,
                    "#until": "until",
                    "#ttl": TTL_ATTRIBUTE,
                },
                ExpressionAttributeValues={
                    ":until": {"N": _seconds(until)},
                    ":ttl": {"N": str(int(until) + WINDOW_TTL_MARGIN_SECONDS)},
                },
            )
        except ClientError as error:
            if not _conditional_failure(error):
                raise
            raise RuntimeError(f"training {training_id}'s slot was reclaimed before it was kept") from None

    def give_back_training(self, owner: str, training_id: str) -> None:
        """A submission that rolled back: its slot and its count for the day (it never started)."""
        self.release_training(owner, training_id)
        now = self.clock()
        self._uncount(f"{QUOTA_PREFIX}{owner}#trainings-day#{datetime.fromtimestamp(now, UTC):%Y-%m-%d}")

    def release_training(self, owner: str, training_id: str) -> None:
        """The training completed or failed: free its concurrency slot. Idempotent (a second release,
        or one for an unknown training, changes nothing). For the status consumer."""
        self._release(self._training_pool(owner), training_id)

    @staticmethod
    def _training_pool(owner: str) -> str:
        return f"{QUOTA_PREFIX}{owner}#training-slots"

    # --- generations and uploads -------------------------------------------------------------------

    def take_generation(self, owner: str) -> None:
        now = self.clock()
        minute = math.floor(now / 60)
        self._count(
            f"{QUOTA_PREFIX}{owner}#generations-minute#{minute}",
            self.limits.generations_per_minute,
            expires=(minute + 1) * 60,
            refusal=f"at most {self.limits.generations_per_minute} generations per owner per minute",
            retry_after=max(1, math.ceil((minute + 1) * 60 - now)),
        )

    def take_upload_slots(
        self, owner: str, upload_id: str, count: int, limit: int, hold_seconds: float
    ) -> None:
        """`count` upload slots for the batch `upload_id` until its URLs expire (at most `limit` open)."""
        now = self.clock()
        self._hold(
            f"{QUOTA_PREFIX}{owner}#upload-slots",
            upload_id,
            count,
            limit,
            until=now + hold_seconds,
            refusal=f"at most {limit} upload slots may be open per owner; use them or retry once they expire",
            retry_after=lambda soonest: max(1, math.ceil(soonest - now)) if soonest else int(hold_seconds),
        )

    def release_upload_slots(self, owner: str, upload_id: str) -> None:
        """A training took the batch's uploads (idempotent)."""
        self._release(f"{QUOTA_PREFIX}{owner}#upload-slots", upload_id)

    # --- windows -----------------------------------------------------------------------------------

    def _count(self, key: str, limit: int, *, expires: float, refusal: str, retry_after: int) -> None:
        try:
            self.client.update_item(
                TableName=self.table,
                Key={KEY_ATTRIBUTE: {"S": key}},
                UpdateExpression="ADD used :one SET #ttl = :ttl",
                ConditionExpression="attribute_not_exists(used) OR used < :limit",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(limit)},
                    ":ttl": {"N": str(int(expires) + WINDOW_TTL_MARGIN_SECONDS)},
                },
            )
        except ClientError as error:
            if _conditional_failure(error):
                raise QuotaExceeded(f"quota exceeded: {refusal}", retry_after=retry_after) from None
            raise

    def _uncount(self, key: str) -> None:
        try:
            self.client.update_item(
                TableName=self.table,
                Key={KEY_ATTRIBUTE: {"S": key}},
                UpdateExpression="ADD used :minus_one",
                ConditionExpression="used > :zero",
                ExpressionAttributeValues={":minus_one": {"N": "-1"}, ":zero": {"N": "0"}},
            )
        except ClientError as error:
            if not _conditional_failure(error):
                raise

    # --- pools -------------------------------------------------------------------------------------

    def _hold(
        self,
        key: str,
        slot_id: str,
        n: int,
        limit: int,
        *,
        until: float,
        refusal: str,
        retry_after: Callable[[float | None], int],
    ) -> None:
        for attempt in (1, 2):
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key={KEY_ATTRIBUTE: {"S": key}},
                    UpdateExpression="ADD used :n SET #slot = :slot, #ttl = :ttl",
                    ConditionExpression=(
                        "attribute_not_exists(#slot) AND (attribute_not_exists(used) OR used <= :room)"
                    ),
                    ExpressionAttributeNames={
                        "#slot": SLOT_ATTRIBUTE_PREFIX + slot_id,
                        "#ttl": TTL_ATTRIBUTE,
                    },
                    ExpressionAttributeValues={
                        ":n": {"N": str(n)},
                        ":room": {"N": str(limit - n)},
                        ":slot": _slot_value(n, until),
                        # The pool outlives its longest slot; an idle owner's item goes by TTL.
                        ":ttl": {"N": str(int(until) + WINDOW_TTL_MARGIN_SECONDS)},
                    },
                )
                return
            except ClientError as error:
                if not _conditional_failure(error):
                    raise
            soonest = self._reclaim_expired(key)
            if attempt == 2 or soonest is not None:  # None: a stale slot was freed, take again
                raise QuotaExceeded(f"quota exceeded: {refusal}", retry_after=retry_after(soonest))

    def _release(self, key: str, slot_id: str) -> None:
        item = self._get(key)
        slot = item.get(SLOT_ATTRIBUTE_PREFIX + slot_id)
        if slot is not None:
            self._remove_slot(key, slot_id, slot)

    def _remove_slot(self, key: str, slot_id: str, slot: dict[str, Any]) -> None:
        """Remove exactly this entry and its count (a concurrent release of it changes nothing)."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={KEY_ATTRIBUTE: {"S": key}},
                UpdateExpression="REMOVE #slot ADD used :minus",
                ConditionExpression="#slot = :slot",
                ExpressionAttributeNames={"#slot": SLOT_ATTRIBUTE_PREFIX + slot_id},
                ExpressionAttributeValues={":slot": slot, ":minus": {"N": str(-int(slot["M"]["n"]["N"]))}},
            )
        except ClientError as error:
            if not _conditional_failure(error):
                raise

    def _reclaim_expired(self, key: str) -> float | None:
        """Free the pool's slots whose `until` has passed. Returns when the soonest remaining slot
        expires (None when something was reclaimed, so that taking again may succeed)."""
        now = self.clock()
        reclaimed, soonest = False, math.inf
        for name, slot in self._get(key).items():
            if not name.startswith(SLOT_ATTRIBUTE_PREFIX):
                continue
            until = float(slot["M"]["until"]["N"])
            if until <= now:
                self._remove_slot(key, name[len(SLOT_ATTRIBUTE_PREFIX) :], slot)
                reclaimed = True
            else:
                soonest = min(soonest, until)
        if reclaimed:
            return None
        return soonest if soonest != math.inf else 0.0

    def _get(self, key: str) -> dict[str, Any]:
        response = self.client.get_item(
            TableName=self.table, Key={KEY_ATTRIBUTE: {"S": key}}, ConsistentRead=True
        )
        return dict(response.get("Item", {}))


def _seconds(moment: float) -> str:
    return f"{moment:.3f}"


def _slot_value(n: int, until: float) -> dict[str, Any]:
    return {"M": {"n": {"N": str(n)}, "until": {"N": _seconds(until)}}}
