"""Selfies for a training: presigned upload URLs, and reading each image from where the caller put it
(inline in the request or in an upload slot)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from avatar_api.domain.images import CheckedImage, check_image
from avatar_api.errors import InvalidRequest, PayloadTooLarge
from avatar_api.services import Services
from avatar_api.settings import MAX_IMAGE_BYTES, UPLOAD_URL_EXPIRES_SECONDS
from avatar_contract import s3_keys
from avatar_contract.training import MAX_IMAGES

log = logging.getLogger(__name__)


class UploadSlot(BaseModel):
    index: int
    url: str
    method: Literal["PUT"] = "PUT"


class UploadBatch(BaseModel):
    upload_id: str
    expires_in: int
    max_bytes: int
    uploads: list[UploadSlot]


@dataclass(frozen=True)
class InlineImage:
    data: bytes


@dataclass(frozen=True)
class UploadedImage:
    upload_id: str
    index: int


ImageSource = InlineImage | UploadedImage


def create_uploads(services: Services, owner: str, count: int) -> UploadBatch:
    """Presigned PUT URLs for `count` selfies under `uploads/<owner>/<upload_id>/<n>`."""
    if not 1 <= count <= MAX_IMAGES:
        raise InvalidRequest(f"count: must be between 1 and {MAX_IMAGES}")
    upload_id = s3_keys.new_upload_id()
    slots = [
        UploadSlot(
            index=index,
            url=services.data.presigned_put(
                s3_keys.upload_key(owner, upload_id, index), UPLOAD_URL_EXPIRES_SECONDS
            ),
        )
        for index in range(count)
    ]
    return UploadBatch(
        upload_id=upload_id, expires_in=UPLOAD_URL_EXPIRES_SECONDS, max_bytes=MAX_IMAGE_BYTES, uploads=slots
    )


def load_image(services: Services, owner: str, source: ImageSource, position: int) -> CheckedImage:
    """The checked image at `images[position]` of a training request."""
    field_name = f"images[{position}]"
    if isinstance(source, InlineImage):
        return check_image(source.data, field_name)
    try:
        key = s3_keys.upload_key(owner, source.upload_id, source.index)
    except ValueError as error:
        raise InvalidRequest(f"{field_name}: {error}") from error
    size = services.data.size_of(key)
    if size is None:
        raise InvalidRequest(
            f"{field_name}: nothing was uploaded for upload_id {source.upload_id} index {source.index}"
        )
    if size > MAX_IMAGE_BYTES:
        raise PayloadTooLarge(
            f"{field_name}: image is {size / 2**20:.1f} MiB; the limit is {MAX_IMAGE_BYTES // 2**20} MiB"
        )
    data = services.data.get_bytes(key) or b""
    return check_image(data, field_name)


def delete_uploaded(services: Services, owner: str, sources: list[ImageSource]) -> None:
    """Remove the uploaded selfies a queued training took (best effort: the lifecycle rule expires them)."""
    for source in sources:
        if isinstance(source, UploadedImage):
            try:
                services.data.delete(s3_keys.upload_key(owner, source.upload_id, source.index))
            except Exception:
                log.warning("could not delete an uploaded selfie (the lifecycle rule will)")
