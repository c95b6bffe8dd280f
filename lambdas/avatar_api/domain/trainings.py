"""Starting a training (steps 1-2), handing out upload URLs, and a training's status.

Status has one source of truth: the objects SageMaker's async endpoint writes (output on success,
failure on error). `training.json` only records ids and where those objects will appear.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from avatar_api.aws import AlreadyExists, Bucket, EndpointError, split_s3_uri
from avatar_api.domain.images import CheckedImage, check_image
from avatar_api.errors import (
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    UpstreamError,
)
from avatar_api.services import Services
from avatar_api.settings import (
    DOWNLOAD_URL_EXPIRES_SECONDS,
    FAILURE_REASON_MAX_CHARS,
    MAX_IMAGE_BYTES,
    UPLOAD_URL_EXPIRES_SECONDS,
)
from avatar_contract import keys, s3_keys
from avatar_contract.lifecycle import TRAINING_INPUT_TAGGING
from avatar_contract.names import Prefix, Runtime
from avatar_contract.training import (
    MAX_IMAGES,
    MIN_IMAGES,
    TrainingConfig,
    TrainingFailure,
    TrainingHyperparameters,
    TrainingResult,
)

log = logging.getLogger(__name__)

INPUT_CONTENT_TYPE = "application/x-gzip"
RECORD_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class InlineImage:
    data: bytes


@dataclass(frozen=True)
class UploadedImage:
    upload_id: str
    index: int


ImageSource = InlineImage | UploadedImage


@dataclass(frozen=True)
class NewTraining:
    images: list[ImageSource]
    hyperparameters: TrainingHyperparameters
    model_name: str | None = None
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        """Digest of everything that defines the request (reusing a key for another request is refused)."""
        digest = hashlib.sha256()
        for image in self.images:
            if isinstance(image, InlineImage):
                digest.update(b"inline:" + hashlib.sha256(image.data).digest())
            else:
                digest.update(f"upload:{image.upload_id}/{image.index}".encode())
        digest.update(json.dumps(self.model_name).encode())
        digest.update(self.hyperparameters.model_dump_json().encode())
        return digest.hexdigest()


@dataclass(frozen=True)
class TrainingAccepted:
    training_id: str
    model_id: str
    target_model: str
    status: str
    created: str
    replayed: bool = False


@dataclass(frozen=True)
class TrainingStatus:
    training_id: str
    model_id: str
    model_name: str | None
    created: str
    status: str  # queued | completed | failed
    target_model: str
    reason: str | None = None
    metrics: dict[str, Any] | None = None
    preview_urls: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class UploadSlot:
    index: int
    url: str


@dataclass(frozen=True)
class UploadBatch:
    upload_id: str
    slots: list[UploadSlot]
    expires_in: int
    max_bytes: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------- uploads
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
    return UploadBatch(upload_id, slots, UPLOAD_URL_EXPIRES_SECONDS, MAX_IMAGE_BYTES)


def _load_image(services: Services, owner: str, source: ImageSource, position: int) -> CheckedImage:
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


# -------------------------------------------------------------------------------------------- trainings
def _build_archive(images: list[CheckedImage], config: TrainingConfig) -> tempfile.SpooledTemporaryFile:
    """The training input: images at the archive root (names chosen here) and `config.json`."""
    spool = tempfile.SpooledTemporaryFile(max_size=64 * 2**20)  # noqa: SIM115 (the caller closes it)
    mtime = int(time.time())
    # JPEG/PNG do not compress further: the fastest gzip level keeps large sets within API Gateway's 29 s.
    with tarfile.open(fileobj=spool, mode="w:gz", compresslevel=1) as tar:
        members = [(f"image_{i:02d}.{image.extension}", image.data) for i, image in enumerate(images)]
        members.append(("config.json", config.model_dump_json(indent=2).encode()))
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = mtime
            tar.addfile(info, io.BytesIO(data))
    spool.seek(0)
    return spool


def _claim_idempotency_key(
    services: Services, owner: str, request: NewTraining, training_id: str, model_id: str, created: str
) -> tuple[str | None, dict[str, Any] | None]:
    """Atomically bind the client's key to this training. Returns (claim key, existing claim or None)."""
    if request.idempotency_key is None:
        return None, None
    claim_key = keys.idempotency_key(owner, request.idempotency_key)
    claim = {
        "training_id": training_id,
        "model_id": model_id,
        "fingerprint": request.fingerprint(),
        "created": created,
    }
    for _ in range(2):
        try:
            services.data.put_json_if_absent(claim_key, claim)
            return claim_key, None
        except AlreadyExists:
            existing = services.data.get_json(claim_key)
            if existing is not None:  # None: the other request just rolled back; try to claim again
                if existing.get("fingerprint") != claim["fingerprint"]:
                    raise IdempotencyKeyReused(
                        "Idempotency-Key was already used for a different training request"
                    ) from None
                return claim_key, existing
    raise ServiceUnavailable(
        "a request with the same Idempotency-Key is being processed; retry", retry_after=2
    )


def start_training(services: Services, owner: str, request: NewTraining) -> TrainingAccepted:
    """Validate the images, package the input, queue it on the async endpoint (steps 1-2).

    The same idempotency key from the same owner returns the first training and starts nothing; if the
    endpoint refuses, everything written so far is removed so that a retry starts clean."""
    if not MIN_IMAGES <= len(request.images) <= MAX_IMAGES:
        raise InvalidRequest(
            f"images: {len(request.images)} given; send between {MIN_IMAGES} and {MAX_IMAGES}"
        )
    training_id, model_id = keys.new_training_id(), keys.new_model_id()
    created = _now()
    claim_key, existing = _claim_idempotency_key(services, owner, request, training_id, model_id, created)
    if existing is not None:
        return _replay(services, owner, existing)

    written: list[str] = [claim_key] if claim_key else []
    try:
        images = [_load_image(services, owner, source, i) for i, source in enumerate(request.images)]
        config = TrainingConfig(
            **request.hyperparameters.model_dump(),
            training_id=training_id,
            model_id=model_id,
            owner=owner,
            model_name=request.model_name,
            model_s3_uri=services.hosting.uri(keys.model_key(owner, model_id)),
            preview_s3_prefix=services.data.uri(keys.preview_prefix(owner, training_id)),
        )
        input_key = keys.training_input_key(owner, training_id)
        written.append(input_key)  # before the write: a half-done upload is removed too
        with _build_archive(images, config) as archive:
            # Tagged: the bucket's lifecycle rule expires selfies after the configured retention.
            services.data.upload_file(input_key, archive, INPUT_CONTENT_TYPE, tagging=TRAINING_INPUT_TAGGING)
        record = {
            "schema_version": RECORD_SCHEMA_VERSION,
            "training_id": training_id,
            "model_id": model_id,
            "model_name": request.model_name,
            "created": created,
            "target_model": keys.target_model(owner, model_id),
            "input_location": services.data.uri(input_key),
            "model_s3_uri": config.model_s3_uri,
            "preview_s3_prefix": config.preview_s3_prefix,
            "image_count": len(images),
            "idempotency_object": claim_key,
        }
        record_key = keys.training_record_key(owner, training_id)
        written.append(record_key)
        services.data.put_json(record_key, record)
        locations = services.training_endpoint.invoke_async(
            input_location=record["input_location"],
            inference_id=training_id,
            timeout_seconds=Runtime.ASYNC_INVOCATION_TIMEOUT_SECONDS,
            content_type=INPUT_CONTENT_TYPE,
        )
    except EndpointError as error:
        _roll_back(services, written)
        log.error("InvokeEndpointAsync failed", extra={"code": error.code, "status": error.status})
        if error.status in (429, 500, 502, 503, 504) or "Throttl" in error.code:
            raise ServiceUnavailable(
                f"the training endpoint is busy or unavailable ({error.code}); retry"
            ) from error
        raise UpstreamError(
            f"the training endpoint refused the request ({error.code}); retry later"
        ) from error
    except Exception:
        _roll_back(services, written)
        raise

    # The training is queued now: from here on, failures must not undo it.
    record.update(locations)
    try:
        services.data.put_json(record_key, record)
    except Exception:
        log.exception(
            "could not store the output locations of a queued training", extra={"training_id": training_id}
        )
    for source in request.images:
        if isinstance(source, UploadedImage):
            try:
                services.data.delete(s3_keys.upload_key(owner, source.upload_id, source.index))
            except Exception:
                log.warning("could not delete an uploaded selfie (the lifecycle rule will)")
    return TrainingAccepted(training_id, model_id, record["target_model"], "queued", created)


def _roll_back(services: Services, written: list[str]) -> None:
    for key in reversed(written):
        try:
            services.data.delete(key)
        except Exception:
            log.exception("rollback could not delete an object", extra={"key": key})


def _replay(services: Services, owner: str, claim: dict[str, Any]) -> TrainingAccepted:
    training_id, model_id = claim["training_id"], claim["model_id"]
    try:
        status = get_training(services, owner, training_id).status
    except NotFound:
        status = "queued"  # the first request is still being processed
    return TrainingAccepted(
        training_id, model_id, keys.target_model(owner, model_id), status, claim["created"], replayed=True
    )


# ----------------------------------------------------------------------------------------------- status
def load_record(services: Services, owner: str, training_id: str) -> dict[str, Any]:
    """The owner's training record; NotFound for unknown, malformed or another owner's ids."""
    if not keys.TRAINING_ID_RE.fullmatch(training_id):
        raise NotFound(f"training {training_id!r} not found")
    record = services.data.get_json(keys.training_record_key(owner, training_id))
    if record is None:
        raise NotFound(f"training {training_id!r} not found")
    return record


def _read_location(services: Services, uri: str | None) -> bytes | None:
    if not uri:
        return None
    bucket_name, key = split_s3_uri(uri)
    if not key.startswith((Prefix.ASYNC_OUTPUTS, Prefix.ASYNC_FAILURES)):
        return None
    bucket = services.data if bucket_name == services.data.name else Bucket(bucket_name, services.data.client)
    return bucket.get_bytes(key)


def _failure_reason(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace")
    try:
        reason = TrainingFailure.model_validate_json(text).reason
    except ValidationError:
        try:
            document = json.loads(text)
            reason = str(document.get("reason") or document.get("message") or document.get("error") or text)
        except (ValueError, AttributeError):
            reason = text
    return reason.strip()[:FAILURE_REASON_MAX_CHARS] or "training failed"


def status_from_record(services: Services, owner: str, record: dict[str, Any]) -> TrainingStatus:
    """Derive the status from what the async endpoint wrote: output -> completed, failure -> failed."""
    base = {
        "training_id": record["training_id"],
        "model_id": record["model_id"],
        "model_name": record.get("model_name"),
        "created": record["created"],
        "target_model": record["target_model"],
    }
    output = _read_location(services, record.get("output_location"))
    if output is not None:
        try:
            result = TrainingResult.model_validate_json(output)
        except ValidationError:
            return TrainingStatus(
                **base, status="failed", reason="the training returned an unreadable result"
            )
        return TrainingStatus(
            **base,
            status="completed",
            metrics=result.metrics.model_dump(exclude={"preview_image_keys"}),
            preview_urls=_preview_urls(services, owner, record, result.metrics.preview_image_keys),
        )
    failure = _read_location(services, record.get("failure_location"))
    if failure is not None:
        return TrainingStatus(**base, status="failed", reason=_failure_reason(failure))
    return TrainingStatus(**base, status="queued")


def _preview_urls(
    services: Services, owner: str, record: dict[str, Any], preview_keys: list[str]
) -> list[str]:
    """Presigned URLs of the previews, only for keys inside this training's preview prefix."""
    allowed = keys.preview_prefix(owner, record["training_id"])
    urls = []
    for entry in preview_keys:
        key = entry
        if entry.startswith("s3://"):
            bucket_name, key = split_s3_uri(entry)
            if bucket_name != services.data.name:
                continue
        if key.startswith(allowed) and ".." not in key:
            urls.append(services.data.presigned_get(key, DOWNLOAD_URL_EXPIRES_SECONDS))
    return urls


def get_training(services: Services, owner: str, training_id: str) -> TrainingStatus:
    return status_from_record(services, owner, load_record(services, owner, training_id))
