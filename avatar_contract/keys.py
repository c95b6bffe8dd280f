"""Identifiers and the S3 key layout (no dependencies).

Owners are keyed digests (HMAC-SHA256 under a per-deployment secret) of the caller's identity;
training and model ids are random, prefixed and URL/Triton-safe. Every per-user key is
`<prefix><owner>/...`, so an owner's data can be listed, authorized and erased by prefix.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

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
