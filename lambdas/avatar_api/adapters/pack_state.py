"""A pack job's counters in the state table (DynamoDB), `pack#<owner>#<job_id>` (docs/packs.md, "State").

The job's record, images and per-image results live in S3 under the model's prefix (what GET reads, what
DELETE /models erases). This item only holds what concurrent image workers must change atomically: how
many images finished with which status, which indexes (so a redelivered image is counted once), whether
the job was cancelled, and whether its completion was claimed (so exactly one worker emits it). Each
change is one conditional UpdateItem; nobody reads-modifies-writes an S3 object. The item expires by TTL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from avatar_api.adapters.quota_items import KEY_ATTRIBUTE, TTL_ATTRIBUTE, conditional_failure

log = logging.getLogger(__name__)

PACK_ITEM_PREFIX = "pack#"
COUNTED = ("succeeded", "blocked", "failed")
CancelOutcome = Literal["cancelled", "already", "finished", "missing"]


@dataclass(frozen=True)
class PackCounts:
    total: int
    done: int
    succeeded: int
    blocked: int
    failed: int
    cancelled: bool
    completed: bool

    @classmethod
    def of(cls, item: dict[str, Any]) -> PackCounts:
        def number(name: str) -> int:
            return int(item.get(name, {}).get("N", "0"))

        return cls(
            total=number("total"),
            done=number("done"),
            succeeded=number("succeeded"),
            blocked=number("blocked"),
            failed=number("failed"),
            cancelled=bool(item.get("cancelled", {}).get("BOOL", False)),
            completed=bool(item.get("completed", {}).get("BOOL", False)),
        )


class PackState:
    """The counters of every pack job in one state table."""

    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    @staticmethod
    def key(owner: str, job_id: str) -> dict[str, Any]:
        return {KEY_ATTRIBUTE: {"S": f"{PACK_ITEM_PREFIX}{owner}#{job_id}"}}

    def create(self, owner: str, job_id: str, total: int, expires: float) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                **self.key(owner, job_id),
                "total": {"N": str(total)},
                "done": {"N": "0"},
                **{name: {"N": "0"} for name in COUNTED},
                TTL_ATTRIBUTE: {"N": str(int(expires))},
            },
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#pk": KEY_ATTRIBUTE},
        )

    def delete(self, owner: str, job_id: str) -> None:
        self.client.delete_item(TableName=self.table, Key=self.key(owner, job_id))

    def counts(self, owner: str, job_id: str) -> PackCounts | None:
        item = self.client.get_item(TableName=self.table, Key=self.key(owner, job_id), ConsistentRead=True)
        found = item.get("Item")
        return PackCounts.of(found) if found else None

    def cancel(self, owner: str, job_id: str) -> CancelOutcome:
        """Mark the job cancelled unless every image has finished (`finished`) or it already is."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self.key(owner, job_id),
                UpdateExpression="SET cancelled = :yes",
                ConditionExpression="attribute_exists(#pk) AND done < #total AND "
                "(attribute_not_exists(cancelled) OR cancelled = :no)",
                ExpressionAttributeNames={"#pk": KEY_ATTRIBUTE, "#total": "total"},
                ExpressionAttributeValues={":yes": {"BOOL": True}, ":no": {"BOOL": False}},
            )
            return "cancelled"
        except ClientError as error:
            if not conditional_failure(error):
                raise
        counts = self.counts(owner, job_id)
        if counts is None:
            return "missing"
        return "already" if counts.cancelled else "finished"

    def record(self, owner: str, job_id: str, index: int, status: str) -> PackCounts | None:
        """Count image `index` as finished with `status` (one of COUNTED); the counts after it, or None
        when it was counted already (a redelivery) or the job's item is gone."""
        if status not in COUNTED:
            raise ValueError(f"not a finished image's status: {status}")
        return self._update_if(
            owner,
            job_id,
            UpdateExpression="ADD done :one, #status :one, finished :index",
            ConditionExpression="attribute_exists(#pk) AND NOT contains(finished, :i)",
            ExpressionAttributeNames={"#pk": KEY_ATTRIBUTE, "#status": status},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":index": {"NS": [str(index)]},
                ":i": {"N": str(index)},
            },
        )

    def claim_completion(self, owner: str, job_id: str) -> PackCounts | None:
        """The counts if this caller is the one to announce the job's end (every image finished, or it
        was cancelled) — exactly one caller gets them; None for every other."""
        return self._update_if(
            owner,
            job_id,
            UpdateExpression="SET completed = :yes",
            ConditionExpression="attribute_exists(#pk) AND attribute_not_exists(completed) AND "
            "(done = #total OR cancelled = :yes)",
            ExpressionAttributeNames={"#pk": KEY_ATTRIBUTE, "#total": "total"},
            ExpressionAttributeValues={":yes": {"BOOL": True}},
        )

    def _update_if(self, owner: str, job_id: str, **update: Any) -> PackCounts | None:
        """One conditional UpdateItem of the job's item: the counts after it, or None if it was refused."""
        try:
            answer = self.client.update_item(
                TableName=self.table, Key=self.key(owner, job_id), ReturnValues="ALL_NEW", **update
            )
        except ClientError as error:
            if conditional_failure(error):
                return None
            raise
        return PackCounts.of(answer["Attributes"])
