"""Per-owner quotas in the state table (DynamoDB), each decided by one conditional UpdateItem.

Two kinds of item, both under `quota#<owner>#...` (the idempotency records share the table under
`idempotency#...`, docs/limits.md):

- a **window** counts uses in a fixed UTC window (`...#trainings-day#2026-12-01`,
  `...#generations-minute#<unix minute>`): `ADD used 1` only if `used < limit`; the item expires by TTL;
- a **pool** holds slots by id (`...#training-slots`: one per running training; `...#upload-slots`: a
  batch's count): `ADD used n` and `SET slot:<id> = {n, until}` only if `used <= limit - n`. A slot is
  released by removing exactly that entry (conditional on it, so releasing twice is a no-op), and a
  slot past its `until` (its owner crashed, or the training died unseen) is reclaimed by the next take.

Windows also meter what costs the service without starting a training (docs/limits.md): dry runs
(`...#dry-runs-hour#<unix hour>`), refused submissions (`...#refused-trainings-day#<date>`: taken up front,
given back once the training is queued) and the GPU cost of generations (`...#generation-cost-minute#<unix
minute>`, pixel-steps); the pool `...#generation-slots` caps an owner's generations in flight. Pack jobs
(docs/packs.md) take their pixel-steps from an hourly window at the same GPU-seconds-per-minute rate
(`...#pack-cost-hour#<unix hour>`) and a slot of the pool `...#pack-slots` until they finish.

The limits come from the environment (`Env.QUOTA_*`, set from cdk.json by the stacks)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from avatar_api.adapters.quota_items import (
    KEY_ATTRIBUTE,
    SLOT_ATTRIBUTE_PREFIX,
    TTL_ATTRIBUTE,
    WINDOW_TTL_MARGIN_SECONDS,
    QuotaItems,
    decimal_seconds,
)
from avatar_contract.names import Env

__all__ = ["KEY_ATTRIBUTE", "QUOTA_PREFIX", "TTL_ATTRIBUTE", "QuotaLimits", "Quotas"]

QUOTA_PREFIX = "quota#"
# A refused training slot: when to look again (a training takes minutes to hours).
TRAINING_SLOT_RETRY_AFTER_SECONDS = 60
# A refused pack slot: when to look again (a pack job takes minutes).
PACK_SLOT_RETRY_AFTER_SECONDS = 60


@dataclass(frozen=True)
class QuotaLimits:
    """The per-owner limits (docs/limits.md); defaults are cdk.json's."""

    concurrent_trainings: int = 1
    trainings_per_day: int = 5
    generations_per_minute: int = 20
    # GPU-seconds of generations one owner may start per minute (turned into pixel-steps by the hosting
    # instance's throughput, domain.limits) and generations one owner may have in flight. The stacks size
    # both to the hosting fleet (stacks.config.ServiceConfig.generation_quota_*); these are cdk.json's.
    generation_gpu_seconds_per_minute: float = 30.0
    generations_in_flight: int = 1
    dry_runs_per_hour: int = 30
    refused_trainings_per_day: int = 10
    pack_jobs_in_flight: int = 2  # cdk.json quotaPackJobsInFlight

    @classmethod
    def from_env(cls) -> QuotaLimits:
        default = cls()

        def limit(name: str, fallback: int) -> int:
            return int(os.environ.get(name) or fallback)

        return cls(
            concurrent_trainings=limit(Env.QUOTA_CONCURRENT_TRAININGS, default.concurrent_trainings),
            trainings_per_day=limit(Env.QUOTA_TRAININGS_PER_DAY, default.trainings_per_day),
            generations_per_minute=limit(Env.QUOTA_GENERATIONS_PER_MINUTE, default.generations_per_minute),
            generation_gpu_seconds_per_minute=float(
                os.environ.get(Env.QUOTA_GENERATION_GPU_SECONDS_PER_MINUTE)
                or default.generation_gpu_seconds_per_minute
            ),
            generations_in_flight=limit(Env.QUOTA_GENERATIONS_IN_FLIGHT, default.generations_in_flight),
            dry_runs_per_hour=limit(Env.QUOTA_DRY_RUNS_PER_HOUR, default.dry_runs_per_hour),
            refused_trainings_per_day=limit(
                Env.QUOTA_REFUSED_TRAININGS_PER_DAY, default.refused_trainings_per_day
            ),
            pack_jobs_in_flight=limit(Env.QUOTA_PACK_JOBS_IN_FLIGHT, default.pack_jobs_in_flight),
        )


@dataclass(frozen=True)
class InFlight:
    """A pool of one owner's requests in flight (`quota#<owner>#<suffix>`): one slot per request, at most
    `limit(QuotaLimits)` at a time. A refusal's Retry-After is `retry_after_seconds`, or (None) the time
    until the pool's soonest slot expires."""

    suffix: str
    what: str  # names the request in the refusal
    limit: Callable[[QuotaLimits], int]
    retry_after_seconds: int | None = None


TRAININGS_IN_FLIGHT = InFlight(
    "training-slots", "training", lambda limit: limit.concurrent_trainings, TRAINING_SLOT_RETRY_AFTER_SECONDS
)
GENERATIONS_IN_FLIGHT = InFlight("generation-slots", "generation", lambda limit: limit.generations_in_flight)
PACKS_IN_FLIGHT = InFlight(
    "pack-slots", "pack job", lambda limit: limit.pack_jobs_in_flight, PACK_SLOT_RETRY_AFTER_SECONDS
)


class Quotas(QuotaItems):
    """Take and give back an owner's quota. Every decision is one conditional write."""

    def __init__(
        self,
        table: str,
        client: Any,
        limits: QuotaLimits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(table, client, clock)
        self.limits = limits or QuotaLimits()

    # --- trainings ---------------------------------------------------------------------------------

    def take_training(self, owner: str, training_id: str, hold_seconds: float) -> None:
        """One of the owner's trainings today and one concurrency slot, held until the status consumer
        calls `release_training` (or for `hold_seconds`, after which the slot is reclaimed).
        QuotaExceeded names the limit; nothing is taken then."""
        now = self.clock()
        _, day_end, retry_after = _window(now, 86400)
        with self._all_or_nothing() as takes:
            takes.count(
                self._trainings_key(owner, now),
                self.limits.trainings_per_day,
                expires=day_end,
                refusal=f"at most {self.limits.trainings_per_day} trainings per owner per UTC day",
                retry_after=retry_after,
            )
            # A refusal costs the service (decoding, screening, moderation): one of the day's refusals is
            # taken now and given back once the training is queued (`training_queued`).
            takes.count(
                self._refusals_key(owner, now),
                self.limits.refused_trainings_per_day,
                expires=day_end,
                refusal=f"at most {self.limits.refused_trainings_per_day} refused training submissions per "
                "owner per UTC day",
                retry_after=retry_after,
            )
            self._take_slot(TRAININGS_IN_FLIGHT, owner, training_id, now, hold_seconds)

    def training_queued(self, owner: str) -> None:
        """The submission was not refused: give back the refusal `take_training` took."""
        self._uncount(self._refusals_key(owner, self.clock()))

    def keep_training(self, owner: str, training_id: str, hold_seconds: float) -> None:
        """The training is queued: hold its slot until `release_training` or for `hold_seconds`."""
        until = self.clock() + hold_seconds
        kept = self._update(
            _pool_key(TRAININGS_IN_FLIGHT, owner),
            UpdateExpression="SET #slot.#until = :until, #ttl = :ttl",
            ConditionExpression="attribute_exists(#slot)",
            ExpressionAttributeNames={
                "#slot": SLOT_ATTRIBUTE_PREFIX + training_id,
                "#until": "until",
                "#ttl": TTL_ATTRIBUTE,
            },
            ExpressionAttributeValues={
                ":until": {"N": decimal_seconds(until)},
                ":ttl": {"N": str(int(until) + WINDOW_TTL_MARGIN_SECONDS)},
            },
        )
        if not kept:
            raise RuntimeError(f"training {training_id}'s slot was reclaimed before it was kept")

    def give_back_training(self, owner: str, training_id: str, *, refused: bool = False) -> None:
        """A submission that rolled back: its slot and its count for the day (it never started). A
        submission the caller caused to fail (`refused`: 4xx) keeps its refusal; one the service failed
        (5xx, an endpoint error) gets it back."""
        self.release_training(owner, training_id)
        now = self.clock()
        self._uncount(self._trainings_key(owner, now))
        if not refused:
            self._uncount(self._refusals_key(owner, now))

    def take_dry_run(self, owner: str) -> None:
        """One of the owner's dry runs this hour (decoding and screening up to 20 selfies)."""
        hour, end, retry_after = _window(self.clock(), 3600)
        self._count(
            f"{QUOTA_PREFIX}{owner}#dry-runs-hour#{hour}",
            self.limits.dry_runs_per_hour,
            expires=end,
            refusal=f"at most {self.limits.dry_runs_per_hour} dry runs per owner per hour",
            retry_after=retry_after,
        )

    def release_training(self, owner: str, training_id: str) -> None:
        """The training completed or failed: free its concurrency slot. Idempotent (a second release,
        or one for an unknown training, changes nothing). For the status consumer."""
        self._release(_pool_key(TRAININGS_IN_FLIGHT, owner), training_id)

    @staticmethod
    def _trainings_key(owner: str, now: float) -> str:
        return f"{QUOTA_PREFIX}{owner}#trainings-day#{datetime.fromtimestamp(now, UTC):%Y-%m-%d}"

    @staticmethod
    def _refusals_key(owner: str, now: float) -> str:
        return f"{QUOTA_PREFIX}{owner}#refused-trainings-day#{datetime.fromtimestamp(now, UTC):%Y-%m-%d}"

    def _take_slot(self, pool: InFlight, owner: str, slot_id: str, now: float, hold_seconds: float) -> None:
        """One slot of the owner's `pool` for `slot_id`, held until released or for `hold_seconds`."""
        limit, fixed = pool.limit(self.limits), pool.retry_after_seconds

        def retry_after(soonest: float | None) -> int:
            if fixed is not None:
                return fixed
            return max(1, math.ceil(soonest - now)) if soonest else 1

        refusal = f"at most {limit} {pool.what}(s) per owner at a time"
        self._hold(_pool_key(pool, owner), slot_id, 1, limit, until=now + hold_seconds, refusal=refusal,
                   retry_after=retry_after)  # fmt: skip

    # --- generations and uploads -------------------------------------------------------------------

    def take_generation(
        self, owner: str, generation_id: str, cost: int, cost_limit: int | None, hold_seconds: float
    ) -> None:
        """One of the owner's generations this minute, `cost` pixel-steps of the minute's `cost_limit`
        (None: no cost quota), and one of the owner's slots for generations in flight, held until
        `release_generation` (or for `hold_seconds`). Nothing is taken when one of them refuses."""
        now = self.clock()
        minute, end, retry_after = _window(now, 60)
        with self._all_or_nothing() as takes:
            takes.count(
                f"{QUOTA_PREFIX}{owner}#generations-minute#{minute}",
                self.limits.generations_per_minute,
                expires=end,
                refusal=f"at most {self.limits.generations_per_minute} generations per owner per minute",
                retry_after=retry_after,
            )
            if cost_limit is not None:
                takes.count(
                    f"{QUOTA_PREFIX}{owner}#generation-cost-minute#{minute}",
                    cost_limit,
                    n=cost,
                    expires=end,
                    refusal=f"at most {cost_limit:,} pixel-steps (num_images x width x height x "
                    "num_inference_steps) of generations per owner per minute",
                    retry_after=retry_after,
                )
            self._take_slot(GENERATIONS_IN_FLIGHT, owner, generation_id, now, hold_seconds)

    def release_generation(self, owner: str, generation_id: str) -> None:
        """The generation answered or failed: free its slot (idempotent)."""
        self._release(_pool_key(GENERATIONS_IN_FLIGHT, owner), generation_id)

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

    # --- pack jobs ---------------------------------------------------------------------------------

    def take_pack(
        self, owner: str, job_id: str, cost: int, cost_limit: int | None, hold_seconds: float
    ) -> None:
        """`cost` pixel-steps of the owner's hourly pack budget `cost_limit` (None: no cost quota) and one
        of the owner's pack slots, held until `release_pack` (or for `hold_seconds`). Nothing is taken
        when one of them refuses."""
        now = self.clock()
        hour, end, retry_after = _window(now, 3600)
        with self._all_or_nothing() as takes:
            if cost_limit is not None:
                takes.count(
                    f"{QUOTA_PREFIX}{owner}#pack-cost-hour#{hour}",
                    cost_limit,
                    n=cost,
                    expires=end,
                    refusal=f"at most {cost_limit:,} pixel-steps (images x width x height x steps) of pack "
                    "jobs per owner per hour",
                    retry_after=retry_after,
                )
            self._take_slot(PACKS_IN_FLIGHT, owner, job_id, now, hold_seconds)

    def release_pack(self, owner: str, job_id: str) -> None:
        """The job finished or was cancelled: free its slot (idempotent)."""
        self._release(_pool_key(PACKS_IN_FLIGHT, owner), job_id)


def _pool_key(pool: InFlight, owner: str) -> str:
    return f"{QUOTA_PREFIX}{owner}#{pool.suffix}"


def _window(now: float, seconds: int) -> tuple[int, int, int]:
    """The fixed UTC window of `seconds` that `now` falls in: its number (Unix seconds // `seconds`), when
    it ends (Unix seconds) and how long until then (at least 1 s: a refusal's Retry-After)."""
    number = math.floor(now / seconds)
    end = (number + 1) * seconds
    return number, end, max(1, math.ceil(end - now))
