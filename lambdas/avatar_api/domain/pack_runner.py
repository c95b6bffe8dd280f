"""The pack runner (docs/packs.md): one work item = one image of a job. It skips cancelled jobs, renders
the image on the multi-model endpoint with the owner's model (`domain.generations.invoke_engine`, as
generations do), moderates it before anything is stored (blocked: recorded with its labels, never
stored), stores the PNG, records the result, counts it (`avatar_api.adapters.pack_state`) and announces it: a
training-events-style SNS event and the signed webhook, per image and at the job's end.

A model still loading, throttling or a retryable endpoint failure is `RetryLater` (the handler delays the
message and reports it as a batch failure) until the item's last receive, where the image is recorded
failed instead: one image never fails the job, and a job always ends.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from avatar_api.adapters.aws import EndpointError, ModelNotReady
from avatar_api.adapters.pack_state import PackCounts
from avatar_api.domain import webhooks
from avatar_api.domain.generations import invoke_engine
from avatar_api.domain.moderation import label_entries
from avatar_api.domain.pack_jobs import read_spec
from avatar_api.domain.services import Services
from avatar_api.errors import ApiError, ServiceUnavailable, redact
from avatar_contract import keys
from avatar_contract.names import PackRunner
from avatar_contract.pack_jobs import PackImageStatus, PackJobSpec, PackWorkItem, final_status

log = logging.getLogger(__name__)

EVENT_SCHEMA_VERSION = 1
KIND: Literal["pack"] = "pack"
ERROR_MAX_CHARS = 500
Outcome = Literal["dropped", "skipped", "succeeded", "blocked", "failed", "announced", "counted"]


class RetryLater(Exception):
    """Try this item again after `seconds` (the message's visibility is changed to it)."""

    def __init__(self, reason: str, seconds: int) -> None:
        super().__init__(reason)
        self.seconds = seconds


class PackEvent(BaseModel):
    """What the events topic and the webhook carry for a pack job: `pack.image` per image, `pack.completed`
    at the job's end (docs/events.md)."""

    schema_version: int = EVENT_SCHEMA_VERSION
    kind: Literal["pack"] = KIND
    type: Literal["pack.image", "pack.completed"]
    event_id: str = Field(description="Same for every delivery of one image's or one job's outcome")
    owner: str
    job_id: str
    model_id: str
    pack: str | None
    status: str = Field(description="The image's status (pack.image) or the job's final status")
    index: int | None = Field(None, description="pack.image: the image's index")
    total: int
    done: int
    succeeded: int
    blocked: int
    failed: int
    cancelled: int
    event_time: str

    def attributes(self) -> dict[str, str]:
        return {"owner": self.owner, "status": self.status, "kind": KIND}


def backoff_seconds(receive_count: int) -> int:
    """The delay before receive `receive_count + 1`: FIRST_BACKOFF_SECONDS, doubling, capped."""
    seconds = PackRunner.FIRST_BACKOFF_SECONDS * 2 ** max(0, receive_count - 1)
    return int(min(PackRunner.MAX_BACKOFF_SECONDS, seconds))


def handle_item(
    services: Services,
    item: PackWorkItem,
    *,
    receive_count: int = 1,
    deadline: float | None = None,
    max_receives: int = PackRunner.MAX_RECEIVE_COUNT,
) -> Outcome:
    """Run one work item; what became of it. `deadline` is a `time.monotonic()` value."""
    spec = read_spec(services, item.owner, item.model_id, item.job_id)
    if spec is None:  # its model (and so the job) was deleted, or a rolled-back submission
        log.info("work item of no job dropped", extra={"job_id": item.job_id})
        return "dropped"
    if item.index is None:  # the job was cancelled: announce it, once
        return "announced" if _complete(services, spec, deadline) else "skipped"
    counts = services.pack_state.counts(item.owner, item.job_id)
    if counts is None:
        return "dropped"
    recorded = _recorded(services, spec, item.index)
    if recorded is not None:  # stored by an earlier delivery that failed before counting it
        _count(services, spec, item.index, recorded, deadline)
        return "counted"
    if counts.cancelled:
        return "skipped"
    last = receive_count >= max_receives
    status, document = _render(services, spec, item.index, last, receive_count, deadline)
    if read_spec(services, item.owner, item.model_id, item.job_id) is None:
        return "dropped"  # the model was deleted while the image rendered: store nothing
    key = keys.pack_result_key(spec.owner, spec.model_id, spec.job_id, item.index, status)
    services.data.put_json(key, {"index": item.index, "status": status, "finished_at": _now(), **document})
    _count(services, spec, item.index, status, deadline)
    return status


def _render(
    services: Services, spec: PackJobSpec, index: int, last: bool, receive_count: int, deadline: float | None
) -> tuple[Literal["succeeded", "blocked", "failed"], dict[str, object]]:
    """Render, moderate and store image `index`: its status and what its result records."""
    image = spec.images[index]
    remaining = float(PackRunner.INVOKE_SECONDS)
    if deadline is not None:
        remaining = min(remaining, deadline - time.monotonic())
    try:
        if remaining < 1:
            raise RetryLater("no time left in this invocation", 1)
        encoded = invoke_engine(
            services,
            spec.owner,
            spec.model_id,
            (image.prompt, image.negative_prompt),
            image.gen_args,
            remaining,
        )
        if len(encoded) != 1:
            raise ValueError(f"the endpoint answered {len(encoded)} images for one")
        png = base64.b64decode(encoded[0])
        if services.moderation is not None:  # before anything is stored or presigned
            found = services.moderation.screen_images([png], "output")[0]
            if found:
                return "blocked", {
                    "labels": sorted({label.name for label in found}),
                    "details": label_entries(found),
                }
    except (ModelNotReady, RetryLater, ServiceUnavailable) as error:
        return _retry_or_fail(error, last, receive_count)
    except EndpointError as error:
        if error.retryable:
            return _retry_or_fail(error, last, receive_count)
        return "failed", {
            "error": redact(f"the model endpoint refused the image ({error.code or error.status})")
        }
    except (ApiError, ValueError) as error:
        return "failed", {"error": redact(str(error))[:ERROR_MAX_CHARS]}
    key = keys.pack_image_key(spec.owner, spec.model_id, spec.job_id, index)
    services.data.put_bytes(key, png, "image/png")
    return "succeeded", {}


def _retry_or_fail(
    error: Exception, last: bool, receive_count: int
) -> tuple[Literal["failed"], dict[str, object]]:
    if not last:
        reason = "the model is being loaded" if isinstance(error, ModelNotReady) else "the endpoint is busy"
        raise RetryLater(reason, backoff_seconds(receive_count)) from error
    return "failed", {"error": f"the model endpoint did not render it after {receive_count} attempts"}


def _recorded(services: Services, spec: PackJobSpec, index: int) -> str | None:
    """The status of image `index` if its result is stored already."""
    prefix = keys.pack_job_prefix(spec.owner, spec.model_id, spec.job_id) + f"{index}."
    for key in services.data.list_keys(prefix):
        status = key[len(prefix) :].removesuffix(".json")
        if status in (PackImageStatus.SUCCEEDED, PackImageStatus.BLOCKED, PackImageStatus.FAILED):
            return status
    return None


def _count(services: Services, spec: PackJobSpec, index: int, status: str, deadline: float | None) -> None:
    """Count the image once (a redelivery counts nothing), announce it, and the job's end if it was the
    last one."""
    counts = services.pack_state.record(spec.owner, spec.job_id, index, status)
    if counts is None:
        return
    _announce(services, spec, "pack.image", status, counts, deadline, index=index)
    if counts.done >= counts.total or counts.cancelled:
        _complete(services, spec, deadline)


def _complete(services: Services, spec: PackJobSpec, deadline: float | None) -> bool:
    """Announce the job's end if this caller claims it (exactly one does); give its slot back."""
    counts = services.pack_state.claim_completion(spec.owner, spec.job_id)
    if counts is None:
        return False
    status = final_status(counts.total, counts.succeeded, counts.done, counts.cancelled)
    try:
        services.quotas.release_pack(spec.owner, spec.job_id)
    except Exception:  # reclaimed after PACK_JOB_SLOT_SECONDS
        log.exception("could not release a pack job's slot", extra={"job_id": spec.job_id})
    _announce(services, spec, "pack.completed", status, counts, deadline)
    log.info("pack job ended", extra={"job_id": spec.job_id, "status": status})
    return True


def _announce(
    services: Services,
    spec: PackJobSpec,
    kind: Literal["pack.image", "pack.completed"],
    status: str,
    counts: PackCounts,
    deadline: float | None,
    *,
    index: int | None = None,
) -> None:
    """The event on the events topic and, when the job has one, its webhook (the image's: one attempt;
    the job's end: up to three). Neither failing undoes the image: both are logged."""
    event = PackEvent(
        type=kind,
        event_id=hashlib.sha256(f"{kind}:{spec.job_id}:{index}:{status}".encode()).hexdigest()[:32],
        owner=spec.owner,
        job_id=spec.job_id,
        model_id=spec.model_id,
        pack=spec.pack,
        status=status,
        index=index,
        total=counts.total,
        done=counts.total if counts.cancelled and kind == "pack.completed" else counts.done,
        succeeded=counts.succeeded,
        blocked=counts.blocked,
        failed=counts.failed,
        cancelled=counts.total - counts.done if counts.cancelled and kind == "pack.completed" else 0,
        event_time=_now(),
    )
    if services.events is not None:
        try:
            services.events.publish(event.model_dump(mode="json"), event.attributes())
        except Exception:
            log.exception("could not publish a pack event", extra={"job_id": spec.job_id, "type": kind})
    if spec.webhook_url:
        attempts = webhooks.MAX_ATTEMPTS if kind == "pack.completed" else 1
        try:
            webhooks.post_signed(
                services,
                spec.owner,
                spec.webhook_url,
                event.model_dump_json().encode(),
                attempts=attempts,
                deadline=deadline,
            )
        except Exception:
            log.exception("could not deliver a pack webhook", extra={"job_id": spec.job_id, "type": kind})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
