"""The S3 keys the API adds on top of `keys` (no dependencies): presigned selfie uploads and generated
images too large to return inline. Both live in the data bucket under the owner's prefix."""

from __future__ import annotations

import re
from typing import Final

from avatar_contract.keys import MODEL_ID_RE, OWNER_RE, check_id, random_id
from avatar_contract.names import Prefix

# generations/<owner>/<model_id>/<generation_id>/<n>.png (images larger than the response limit)
GENERATIONS_PREFIX: Final = "generations/"
UPLOAD_ID_RE = re.compile(r"^u-[0-9a-z]{20}$")
GENERATION_ID_RE = re.compile(r"^g-[0-9a-z]{20}$")


def new_upload_id() -> str:
    return random_id("u-")


def new_generation_id() -> str:
    return random_id("g-")


def upload_prefix(owner: str, upload_id: str) -> str:
    """`uploads/<owner>/<upload_id>/`: one batch of presigned selfie uploads."""
    check_id(owner, OWNER_RE, "owner")
    check_id(upload_id, UPLOAD_ID_RE, "upload id")
    return f"{Prefix.UPLOADS}{owner}/{upload_id}/"


def upload_key(owner: str, upload_id: str, index: int) -> str:
    if not 0 <= index < 100:
        raise ValueError(f"invalid upload index: {index}")
    return f"{upload_prefix(owner, upload_id)}{index}"


def generation_model_prefix(owner: str, model_id: str) -> str:
    """`generations/<owner>/<model_id>/`: every stored image of one model (erased with the model)."""
    check_id(owner, OWNER_RE, "owner")
    check_id(model_id, MODEL_ID_RE, "model id")
    return f"{GENERATIONS_PREFIX}{owner}/{model_id}/"


def generation_image_key(owner: str, model_id: str, generation_id: str, index: int) -> str:
    check_id(generation_id, GENERATION_ID_RE, "generation id")
    return f"{generation_model_prefix(owner, model_id)}{generation_id}/{index}.png"


# generations/<owner>/<model_id>/packs/<job_id>/{job.json, <i>.png, <i>.<status>.json, cancelled.json}:
# a pack job's record, images and per-image results, under the model's prefix (erased with the model).
# pk-<9 base-36 digits of (PACK_ID_CLOCK - milliseconds since the epoch)><12 random>: ids of newer jobs
# sort first, so an S3 listing of a model's jobs is newest first.
PACK_JOB_ID_RE = re.compile(r"^pk-[0-9a-z]{21}$")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
PACK_ID_CLOCK = 36**9 - 1  # the job id's time part counts down from this (newer jobs sort first)
PACK_JOB_FILE = "job.json"
PACK_CANCELLED_FILE = "cancelled.json"


def new_pack_job_id(now_ms: int) -> str:
    """`pk-` + the time (counting down, 9 base-36 digits) + 12 random characters."""
    left, digits = max(0, PACK_ID_CLOCK - now_ms), ""
    for _ in range(9):
        left, digit = divmod(left, 36)
        digits = _DIGITS[digit] + digits
    return "pk-" + digits + random_id("")[:12]


def packs_prefix(owner: str, model_id: str) -> str:
    """`generations/<owner>/<model_id>/packs/`: every pack job of one model."""
    return f"{generation_model_prefix(owner, model_id)}packs/"


def pack_job_prefix(owner: str, model_id: str, job_id: str) -> str:
    check_id(job_id, PACK_JOB_ID_RE, "pack job id")
    return f"{packs_prefix(owner, model_id)}{job_id}/"


def pack_image_key(owner: str, model_id: str, job_id: str, index: int) -> str:
    return f"{pack_job_prefix(owner, model_id, job_id)}{index}.png"


def pack_result_key(owner: str, model_id: str, job_id: str, index: int, status: str) -> str:
    """`<i>.<status>.json`: the status is in the key, so one listing tells every image's status."""
    return f"{pack_job_prefix(owner, model_id, job_id)}{index}.{status}.json"
