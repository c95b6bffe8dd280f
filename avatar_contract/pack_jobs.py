"""Pack jobs (docs/packs.md, issue 25): the one definition of what `POST /models/{model_id}/packs` takes,
what the job answers look like, the statuses, and the SQS work item the pack runner consumes.

A job renders a pack (curated or the operator's, `avatar_contract.packs`) or inline prompts with one
owner's model in the background: one work item per image, `MAX_PACK_IMAGES` at most.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from avatar_contract.generation import GenArgs
from avatar_contract.packs import MAX_IMAGES_PER_PROMPT, MAX_PROMPTS, PackPrompt
from avatar_contract.training import PROMPT_MAX_CHARS

MAX_PACK_IMAGES: Final = 100
MAX_SEED: Final = 2**32 - 1


class PackJobStatus(StrEnum):
    """A job's status: `queued` (no image finished yet), `running`, then one final status."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # every image succeeded
    PARTIAL = "partial"  # some blocked or failed, at least one succeeded
    FAILED = "failed"  # none succeeded
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self not in (PackJobStatus.QUEUED, PackJobStatus.RUNNING)


class PackImageStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    BLOCKED = "blocked"  # withheld by content moderation: never stored or presigned
    FAILED = "failed"
    CANCELLED = "cancelled"


class PackJobRequest(BaseModel):
    """The body of POST /models/{model_id}/packs: a pack by name, or inline prompts."""

    model_config = ConfigDict(extra="forbid")

    pack: str | None = Field(
        None, pattern=r"^[a-z0-9][a-z0-9-]{1,39}$", description="A pack of GET /packs (or give prompts)"
    )
    prompts: list[PackPrompt] | None = Field(
        None, min_length=1, max_length=MAX_PROMPTS, description="Inline prompts (or give pack)"
    )
    negative_prompt: str | None = Field(
        None, max_length=PROMPT_MAX_CHARS, description="Inline only: the default of the inline prompts"
    )
    images_per_prompt: int | None = Field(
        None, ge=1, le=MAX_IMAGES_PER_PROMPT, description="Overrides every prompt's `images`"
    )
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="Image i uses seed + i (null: a random base, recorded)"
    )
    webhook_url: str | None = Field(
        None, description="https URL that receives each image's and the job's event, signed (docs/events.md)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> PackJobRequest:
        if (self.pack is None) == (self.prompts is None):
            raise ValueError("give exactly one of pack or prompts")
        if self.pack is not None and self.negative_prompt is not None:
            raise ValueError("negative_prompt is for inline prompts (a pack has its own)")
        if self.prompts is not None:
            total = sum(self.images_per_prompt or prompt.images for prompt in self.prompts)
            if total > MAX_PACK_IMAGES:
                raise ValueError(f"{total} images requested; a pack job renders at most {MAX_PACK_IMAGES}")
        return self


class PackImage(BaseModel):
    """One image of a job, as GET answers it."""

    index: int
    prompt_index: int
    prompt: str = Field(description="As written, with <<TOK>>")
    status: PackImageStatus
    url: str | None = Field(None, description="Presigned GET URL (succeeded only), valid 15 minutes")
    labels: list[str] | None = Field(None, description="Moderation labels (blocked only)")
    error: str | None = Field(None, description="Why it failed (failed only)")


class PackJob(BaseModel):
    """A job: the 202 answer of POST, GET's answer (with `images`) and cancel's."""

    job_id: str
    model_id: str
    pack: str | None = None
    status: PackJobStatus
    created_at: str
    updated_at: str
    total: int
    done: int = Field(description="Images no longer pending")
    succeeded: int = 0
    blocked: int = 0
    failed: int = 0
    cancelled: int = 0
    seed: int
    images: list[PackImage] = Field(default_factory=list, description="Empty in GET /packs listings")
    replayed: bool = Field(False, description="True when an earlier request with this idempotency key won")


class PackJobList(BaseModel):
    """GET /models/{model_id}/packs: the caller's jobs of that model, newest first."""

    jobs: list[PackJob]
    next_token: str | None = Field(None, description="Pass as next_token for the next page; null: last page")


class PackImageSpec(BaseModel):
    """What one image of a job renders (stored once with the job; the runner reads it)."""

    prompt_index: int
    prompt: str
    negative_prompt: str
    gen_args: GenArgs = Field(description="Sized, with its seed and num_images 1")


class PackJobSpec(BaseModel):
    """The job as recorded at submission (immutable): everything the runner needs."""

    job_id: str
    owner: str
    model_id: str
    pack: str | None
    pack_version: int | None = None
    created_at: str
    seed: int
    webhook_url: str | None = None
    images: list[PackImageSpec]


class PackWorkItem(BaseModel):
    """One SQS message of the pack queue: one image of a job (or, with `index` None, the job's
    cancellation, whose completion event the runner emits)."""

    model_config = ConfigDict(extra="forbid")

    owner: str
    model_id: str
    job_id: str
    index: int | None = Field(None, ge=0, lt=MAX_PACK_IMAGES)


def final_status(total: int, succeeded: int, done: int, cancelled: bool) -> PackJobStatus:
    """The job's status from its counts (the one rule the API and the runner share)."""
    if cancelled:
        return PackJobStatus.CANCELLED
    if done < total:
        return PackJobStatus.RUNNING if done else PackJobStatus.QUEUED
    if succeeded == total:
        return PackJobStatus.SUCCEEDED
    return PackJobStatus.PARTIAL if succeeded else PackJobStatus.FAILED
