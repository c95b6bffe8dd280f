"""Limits and environment-derived settings of the API (one place, so docs/api.md and the tests agree)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from avatar_contract.families import DEFAULT_FAMILY, FamilyName, family
from avatar_contract.names import API_TIMEOUT_SECONDS, Env, Runtime
from avatar_contract.training_budget import TRAINING_TIME_BUDGET_SECONDS
from avatar_runtime.environment import Environment

# Per image: decoded bytes and pixels (a decompression bomb is refused before it is decoded).
MAX_IMAGE_BYTES = 15 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000
# What one image may decode to at full size (checked from the header): a JPEG is decoded at a reduced DCT
# scale (at most 1/8 of MAX_IMAGE_PIXELS), a PNG cannot be, so this bounds a PNG (64 MiB as RGBA; a flat
# 6300x6300 PNG is 131 KB and would decode to 159 MiB). docs/limits.md.
MAX_DECODED_PIXELS = 4096 * 4096
MIN_IMAGE_SIDE = 64
# Presigned upload URLs are valid this long; uploaded selfies are deleted once a training took them.
UPLOAD_URL_EXPIRES_SECONDS = 900
# Presigned POSTs accept only this Content-Type prefix (the API still checks the bytes are JPEG/PNG), and
# an owner may hold at most this many unexpired upload slots (two full trainings' worth).
UPLOAD_CONTENT_TYPE_PREFIX = "image/"
MAX_OPEN_UPLOAD_SLOTS = 40
# Base64 image bytes returned inline; above this, images are stored and returned as presigned URLs
# (Lambda's synchronous response limit is 6 MB, API Gateway's 10 MB).
MAX_INLINE_IMAGES_BYTES = 4_500_000
DOWNLOAD_URL_EXPIRES_SECONDS = 3600
# Pack jobs (docs/packs.md): their images' presigned URLs last this long; a job's slot in flight is
# reclaimed after PACK_JOB_SLOT_SECONDS however it ended; its counters item expires after PACK_STATE_SECONDS.
PACK_URL_EXPIRES_SECONDS = 900
PACK_JOB_SLOT_SECONDS = 6 * 3600
PACK_STATE_SECONDS = 14 * 86400
PACK_JOBS_PAGE_DEFAULT = 20
PACK_JOBS_PAGE_MAX = 50
# Generation: the whole request must fit in API Gateway's integration timeout (2 s left to answer).
GENERATION_BUDGET_SECONDS = API_TIMEOUT_SECONDS - 2.0
MODEL_NOT_READY_RETRY_AFTER_SECONDS = 30
# A generation's in-flight slot (per-owner cap, docs/limits.md) is released when it answers; one whose
# function died is reclaimed after this (longer than any invocation: the function's timeout is 29 s).
GENERATION_SLOT_SECONDS = 60.0
# Of that budget, what a request's rendering may not use: model load retries, text encoding, VAE decode,
# image encoding and the transfers (the cost bound is computed for the rest; docs/limits.md).
GENERATION_OVERHEAD_SECONDS = 7.0
# SageMaker's real-time response limit is 6 MB; this leaves room for the JSON around the images.
MAX_ENDPOINT_RESPONSE_BYTES = 5_800_000
# Trainings: the estimate must fit the async invocation timeout minus a margin (startup, upload); the
# training container stops at the same budget (avatar_contract.training_budget).
TRAINING_BUDGET_SECONDS = TRAINING_TIME_BUDGET_SECONDS
# How long a queued training may wait for an instance (InvokeEndpointAsync RequestTTLSeconds).
TRAINING_QUEUE_TTL_SECONDS = 6 * 3600
# A training with no outcome this long after it was queued died without a notification: it is failed.
TRAINING_DEADLINE_SECONDS = TRAINING_QUEUE_TTL_SECONDS + Runtime.ASYNC_INVOCATION_TIMEOUT_SECONDS + 600
IDEMPOTENCY_KEY_MAX_CHARS = 128
# After POST /webhooks/secret/rotate, deliveries are signed with the old secret too for this long.
WEBHOOK_SECRET_GRACE_SECONDS = 24 * 3600
# GET /models pages: each model costs a record read and up to three outcome reads (docs/api.md, "Pages").
MODELS_PAGE_DEFAULT = 20
MODELS_PAGE_MAX = 50
MODEL_NAME_MAX_CHARS = 100
FAILURE_REASON_MAX_CHARS = 2000
METRICS_NAMESPACE = "AvatarService"
SERVICE_NAME = "avatar-api"


@dataclass(frozen=True)
class Settings:
    """Where the API's resources are (set by the CDK app or the local cloud)."""

    data_bucket: str
    hosting_bucket: str
    owner_key_secret: str  # Secrets Manager name or ARN of the owner-id key (avatar_api.adapters.owner_ids)
    training_endpoint: str = ""  # only the trainings function needs it
    hosting_endpoint: str = ""  # only the generations function needs it
    # What the cost bounds are computed for (docs/limits.md); empty: not configured (no bound applies).
    training_instance_type: str = ""
    hosting_instance_type: str = ""
    state_table: str = ""  # quotas and idempotency records (DynamoDB)
    # The base family both endpoints serve (avatar_contract.families; unset: the default family).
    base_family: FamilyName = DEFAULT_FAMILY
    events_topic_arn: str = ""  # the status consumer and the pack runner publish to it (docs/events.md)
    pack_queue_url: str = ""  # the generations function and the pack runner (docs/packs.md)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Environment(environ)
        required = env.required(Env.DATA_BUCKET, Env.HOSTING_BUCKET, Env.OWNER_KEY_SECRET, Env.STATE_TABLE)
        return cls(
            data_bucket=required[Env.DATA_BUCKET],
            hosting_bucket=required[Env.HOSTING_BUCKET],
            owner_key_secret=required[Env.OWNER_KEY_SECRET],
            training_endpoint=env.text(Env.TRAINING_ENDPOINT),
            hosting_endpoint=env.text(Env.HOSTING_ENDPOINT),
            training_instance_type=env.text(Env.TRAINING_INSTANCE_TYPE),
            hosting_instance_type=env.text(Env.HOSTING_INSTANCE_TYPE),
            state_table=required[Env.STATE_TABLE],
            base_family=family(env.text(Env.BASE_FAMILY, DEFAULT_FAMILY)).name,
            events_topic_arn=env.text(Env.EVENTS_TOPIC_ARN),
            pack_queue_url=env.text(Env.PACK_QUEUE_URL),
        )
