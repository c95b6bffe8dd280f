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
