"""Selfies for a training: presigned upload URLs, and reading each image from where the caller put it
(inline in the request or in an upload slot)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from avatar_api import settings
from avatar_api.domain.images import CheckedImage, Inspect, check_image
from avatar_api.domain.services import Services
from avatar_api.errors import Changed, InvalidRequest, PayloadTooLarge, QuotaExceeded, TooManyUploads
from avatar_contract import keys
from avatar_contract.training import MAX_IMAGES

log = logging.getLogger(__name__)


class UploadSlot(BaseModel):
    """One selfie's presigned POST: send `fields` and then the file (form field `file`) as
    multipart/form-data to `url`, with a Content-Type field of image/jpeg or image/png."""

    index: int
    url: str
    fields: dict[str, str]
    method: Literal["POST"] = "POST"


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
    """Presigned POSTs for `count` selfies under `uploads/<owner>/<upload_id>/<n>`, each bounded to
    MAX_IMAGE_BYTES and an image/* Content-Type; at most MAX_OPEN_UPLOAD_SLOTS open per owner (counted
    atomically in the state table: concurrent requests cannot overshoot)."""
    if not 1 <= count <= MAX_IMAGES:
        raise InvalidRequest(f"count: must be between 1 and {MAX_IMAGES}")
    upload_id = keys.new_upload_id()
    try:
        services.quotas.take_upload_slots(
            owner,
            upload_id,
            count,
            settings.MAX_OPEN_UPLOAD_SLOTS,
            hold_seconds=settings.UPLOAD_URL_EXPIRES_SECONDS,
        )
    except QuotaExceeded as refused:
        raise TooManyUploads(
            f"count: {count} more would exceed the {settings.MAX_OPEN_UPLOAD_SLOTS} upload slots an owner "
            "may hold open; use them or retry once they expire "
            f"(at most {settings.UPLOAD_URL_EXPIRES_SECONDS} s)",
            retry_after=refused.retry_after,
        ) from None
    slots = []
    for index in range(count):
        post = services.data.presigned_post(
            keys.upload_key(owner, upload_id, index),
            settings.UPLOAD_URL_EXPIRES_SECONDS,
            max_bytes=settings.MAX_IMAGE_BYTES,
            content_type_prefix=settings.UPLOAD_CONTENT_TYPE_PREFIX,
        )
        slots.append(UploadSlot(index=index, url=post["url"], fields=post["fields"]))
    return UploadBatch(
        upload_id=upload_id,
        expires_in=settings.UPLOAD_URL_EXPIRES_SECONDS,
        max_bytes=settings.MAX_IMAGE_BYTES,
        uploads=slots,
    )


def load_image(
    services: Services, owner: str, source: ImageSource, position: int, inspect: Inspect | None = None
) -> CheckedImage:
    """The checked image at `images[position]` of a training request (`inspect`: domain.images). An upload
    is read with a GET pinned to the ETag its size was checked on and bounded to MAX_IMAGE_BYTES + 1 bytes."""
    field_name = f"images[{position}]"
    if isinstance(source, InlineImage):
        return check_image(source.data, field_name, inspect)
    try:
        key = keys.upload_key(owner, source.upload_id, source.index)
    except ValueError as error:
        raise InvalidRequest(f"{field_name}: {error}") from error
    found = services.data.head(key)
    if found is None:
        raise InvalidRequest(
            f"{field_name}: nothing was uploaded for upload_id {source.upload_id} index {source.index}"
        )
    size, etag = found
    if size > settings.MAX_IMAGE_BYTES:
        raise PayloadTooLarge(
            f"{field_name}: image is {size / 2**20:.1f} MiB; "
            f"the limit is {settings.MAX_IMAGE_BYTES // 2**20} MiB"
        )
    try:
        data = services.data.get_bounded(key, etag, settings.MAX_IMAGE_BYTES)
    except Changed as error:
        raise InvalidRequest(
            f"{field_name}: the upload changed while it was read; send the request again"
        ) from error
    return check_image(data, field_name, inspect)  # over MAX_IMAGE_BYTES (at most one byte over): 413


def delete_uploaded(services: Services, owner: str, sources: list[ImageSource]) -> None:
    """Remove the uploaded selfies a queued training took (best effort: the lifecycle rule expires them)."""
    uploaded = [source for source in sources if isinstance(source, UploadedImage)]
    for key in [keys.upload_key(owner, source.upload_id, source.index) for source in uploaded]:
        try:
            services.data.delete(key)
        except Exception:
            log.warning("could not delete an uploaded selfie (the lifecycle rule will)")
    for upload_id in sorted({source.upload_id for source in uploaded}):
        try:
            services.quotas.release_upload_slots(owner, upload_id)
        except Exception:
            log.warning("could not release upload slots (they are reclaimed once their URLs expire)")
