"""The two kinds of quota item in the state table (`adapters.quotas`), each changed by one conditional
UpdateItem: a **window** counts uses (`_count`/`_uncount`), a **pool** holds slots by id (`_hold`/`_release`,
expired slots reclaimed)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from avatar_api.errors import QuotaExceeded
from avatar_contract.names import StateTable

KEY_ATTRIBUTE = StateTable.KEY_ATTRIBUTE
TTL_ATTRIBUTE = StateTable.TTL_ATTRIBUTE
SLOT_ATTRIBUTE_PREFIX = "slot:"
# How long a window's item outlives its window (TTL deletion is lazy; the key already names the window).
WINDOW_TTL_MARGIN_SECONDS = 3600


def conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class QuotaItems:
    """Windows and pools of one state table."""

    def __init__(self, table: str, client: Any, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.client = client
        self.clock = clock

    # --- windows -----------------------------------------------------------------------------------

    def _count(
        self, key: str, limit: int, *, n: int = 1, expires: float, refusal: str, retry_after: int
    ) -> None:
        """`ADD used n` only if the window keeps within `limit` (`used <= limit - n`)."""
        taken = self._update(
            key,
            UpdateExpression="ADD used :n SET #ttl = :ttl",
            ConditionExpression="attribute_not_exists(used) OR used <= :room",
            ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":n": {"N": str(n)},
                ":room": {"N": str(limit - n)},
                ":ttl": {"N": str(int(expires) + WINDOW_TTL_MARGIN_SECONDS)},
            },
        )
        if not taken:
            raise QuotaExceeded(f"quota exceeded: {refusal}", retry_after=retry_after)

    def _uncount(self, key: str, n: int = 1) -> None:
        self._update(
            key,
            UpdateExpression="ADD used :minus",
            ConditionExpression="used >= :n",
            ExpressionAttributeValues={":minus": {"N": str(-n)}, ":n": {"N": str(n)}},
        )

    @contextmanager
    def _all_or_nothing(self) -> Iterator[_Takes]:
        """`with self._all_or_nothing() as takes:` counts taken with `takes.count` are given back when
        anything later in the block (another count, a hold) refuses or fails."""
        takes = _Takes(self)
        try:
            yield takes
        except Exception:
            takes.give_back()
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
            taken = self._update(
                key,
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
            if taken:
                return
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
        self._update(
            key,
            UpdateExpression="REMOVE #slot ADD used :minus",
            ConditionExpression="#slot = :slot",
            ExpressionAttributeNames={"#slot": SLOT_ATTRIBUTE_PREFIX + slot_id},
            ExpressionAttributeValues={":slot": slot, ":minus": {"N": str(-int(slot["M"]["n"]["N"]))}},
        )

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

    def _update(self, key: str, **update: Any) -> bool:
        """One conditional UpdateItem of the item `key` (`update`: its expressions); False when the
        condition did not hold (nothing changed then)."""
        try:
            self.client.update_item(TableName=self.table, Key={KEY_ATTRIBUTE: {"S": key}}, **update)
        except ClientError as error:
            if conditional_failure(error):
                return False
            raise
        return True

    def _get(self, key: str) -> dict[str, Any]:
        response = self.client.get_item(
            TableName=self.table, Key={KEY_ATTRIBUTE: {"S": key}}, ConsistentRead=True
        )
        return dict(response.get("Item", {}))


class _Takes:
    """The window counts one request has taken so far (`QuotaItems._all_or_nothing`)."""

    def __init__(self, items: QuotaItems) -> None:
        self._items = items
        self._taken: list[tuple[str, int]] = []

    def count(
        self, key: str, limit: int, *, n: int = 1, expires: float, refusal: str, retry_after: int
    ) -> None:
        """`QuotaItems._count`, remembered to be given back."""
        self._items._count(key, limit, n=n, expires=expires, refusal=refusal, retry_after=retry_after)
        self._taken.append((key, n))

    def give_back(self) -> None:
        for key, n in self._taken:
            self._items._uncount(key, n)


def decimal_seconds(moment: float) -> str:
    return f"{moment:.3f}"


def _slot_value(n: int, until: float) -> dict[str, Any]:
    return {"M": {"n": {"N": str(n)}, "until": {"N": decimal_seconds(until)}}}
