"""Identifiers and the S3 key layout, and its inverse (no dependencies).

Owners are keyed digests (HMAC-SHA256 under a per-deployment secret) of the caller's identity;
training and model ids are random, prefixed and URL/Triton-safe. Every per-user key is
`<prefix><owner>/...`, so an owner's data can be listed, authorized and erased by prefix.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Final

from avatar_contract.names import Prefix

OWNER_RE = re.compile(r"^[0-9a-f]{32}$")
TRAINING_ID_RE = re.compile(r"^t-[0-9a-z]{20}$")
MODEL_ID_RE = re.compile(r"^m-[0-9a-z]{20}$")

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


MIN_OWNER_KEY_BYTES = 32


def owner_of(principal: str, key: bytes) -> str:
    """Stable, opaque owner id for a principal (see avatar_api routers.identity for which): an HMAC under the
    deployment's owner-id key, so nobody can compute another caller's owner id from a known ARN."""
    if not principal:
        raise ValueError("principal must not be empty")
    if len(key) < MIN_OWNER_KEY_BYTES:
        raise ValueError(f"the owner-id key must be at least {MIN_OWNER_KEY_BYTES} bytes")
    return hmac.new(key, f"owner:{principal}".encode(), hashlib.sha256).hexdigest()[:32]


def random_id(prefix: str) -> str:
    """`prefix` + 20 random lowercase letters/digits (URL-, S3- and Triton-name-safe)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(20))


def new_training_id() -> str:
    return random_id("t-")


def new_model_id() -> str:
    return random_id("m-")


def check_id(value: str, pattern: re.Pattern[str], what: str) -> str:
    """`value` if it matches `pattern`, else a ValueError naming `what`."""
    if not pattern.fullmatch(value):
        raise ValueError(f"invalid {what}: {value!r}")
    return value


def _trainings_of(owner: str) -> str:
    """`trainings/<owner>/`: the data bucket prefix of everything one owner's trainings write."""
    return f"{Prefix.TRAININGS}{check_id(owner, OWNER_RE, 'owner')}/"


def training_prefix(owner: str, training_id: str) -> str:
    """Data bucket prefix holding one training's input archive, record and previews."""
    return f"{_trainings_of(owner)}{check_id(training_id, TRAINING_ID_RE, 'training id')}/"


def training_input_key(owner: str, training_id: str) -> str:
    return training_prefix(owner, training_id) + "input.tar.gz"


def owner_of_training_input(key: str, training_id: str) -> str | None:
    """The inverse of `training_input_key`: the owner whose input archive of `training_id` `key` is, or
    None when `key` is no training's input archive (or another training's)."""
    if not key.startswith(Prefix.TRAININGS) or not TRAINING_ID_RE.fullmatch(training_id):
        return None
    owner = key[len(Prefix.TRAININGS) :].split("/", 1)[0]
    if not OWNER_RE.fullmatch(owner) or key != training_input_key(owner, training_id):
        return None
    return owner


def training_record_key(owner: str, training_id: str) -> str:
    return training_prefix(owner, training_id) + "training.json"


def progress_key(owner: str, training_id: str) -> str:
    """The training's progress object (`avatar_contract.progress`), overwritten while it runs."""
    return training_prefix(owner, training_id) + "progress.json"


def model_entry_key(owner: str, model_id: str) -> str:
    """`trainings/<owner>/by-model/<model_id>.json`: names the training that makes `model_id`."""
    return f"{_trainings_of(owner)}by-model/{check_id(model_id, MODEL_ID_RE, 'model id')}.json"


def webhook_secret_key(owner: str) -> str:
    """`trainings/<owner>/_webhook-secret.json`: which generation of the owner's webhook secret is current
    (and until when the previous one is still accepted). Sorts before `t-`, so listings skip it."""
    return f"{_trainings_of(owner)}_webhook-secret.json"


def preview_prefix(owner: str, training_id: str) -> str:
    return training_prefix(owner, training_id) + "previews/"


def staged_prefix(owner: str, training_id: str) -> str:
    """Where the training container stages its adapter and metadata for the publisher (issue 21 M1):
    the training role never writes the hosting bucket."""
    return training_prefix(owner, training_id) + "staged/"


def publication_key(owner: str, training_id: str) -> str:
    """The publisher's verdict on a training's model: published, or refused with a reason
    (avatar_contract.publishing.Publication); only the publisher and the API write it."""
    return training_prefix(owner, training_id) + "publication.json"


def republication_key(owner: str, model_id: str) -> str:
    """The publisher's verdict on rebuilding an old-layout archive (`publishing.Republication`); named
    like a training's verdict so the publisher's one write grant covers it, and outside the `t-`
    folders that list an owner's trainings."""
    return f"{_trainings_of(owner)}republished/{check_id(model_id, MODEL_ID_RE, 'model id')}/publication.json"


def target_model(owner: str, model_id: str) -> str:
    """`TargetModel` for InvokeEndpoint: the artifact key relative to the endpoint's ModelDataUrl."""
    check_id(owner, OWNER_RE, "owner")
    check_id(model_id, MODEL_ID_RE, "model id")
    return f"{owner}/{model_id}.tar.gz"


def model_key(owner: str, model_id: str) -> str:
    """Hosting bucket key of a model artifact (docs/design.md §4: models/<owner>/<model_id>.tar.gz)."""
    return Prefix.MODELS + target_model(owner, model_id)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key); `s3://bucket` and `s3://bucket/` give an empty key.

    The one parser of S3 URIs for the API, the containers and the local cloud (ValueError otherwise)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"not an S3 URI (no bucket): {uri!r}")
    return bucket, key


# --- what the API adds: presigned selfie uploads, generated images too large to return inline, pack jobs

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
