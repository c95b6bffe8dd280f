"""Starting a training (steps 1-2): check the selfies, package the input, queue it on the async
endpoint. Uploads live in `uploads`, the status in `status`; quotas and idempotency records are in the state
table (`services.quotas`, `services.submissions`)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, Field, ValidationError

from avatar_api.domain import limits, screening
from avatar_api.domain.images import CheckedImage
from avatar_api.domain.records import TrainingRecord, Webhook
from avatar_api.domain.services import Services
from avatar_api.domain.status import status_of
from avatar_api.domain.uploads import ImageSource, InlineImage, delete_uploaded
from avatar_api.errors import (
    ApiError,
    EndpointError,
    InvalidRequest,
    describe_validation_errors,
    endpoint_failure,
)
from avatar_api.settings import TRAINING_DEADLINE_SECONDS, TRAINING_QUEUE_TTL_SECONDS
from avatar_contract import keys
from avatar_contract.instance_tokens import pick_token
from avatar_contract.lifecycle import TRAINING_INPUT_TAGGING
from avatar_contract.names import API_TIMEOUT_SECONDS, Runtime
from avatar_contract.prompts import training_prompts
from avatar_contract.status import TrainingStatus
from avatar_contract.training import (
    MAX_IMAGES,
    MIN_IMAGES,
    REFERENCE_TOKEN,
    TrainingConfig,
    TrainingHyperparameters,
    effective_class_noun,
    for_family,
    training_config_model,
)

log = logging.getLogger(__name__)

INPUT_CONTENT_TYPE = "application/x-gzip"


@dataclass(frozen=True)
class NewTraining:
    images: list[ImageSource]
    hyperparameters: TrainingHyperparameters
    model_name: str | None = None
    idempotency_key: str | None = None
    webhook_url: str | None = None
    # How long this attempt may still run (the invocation's remaining time): until then its quota slot
    # and its idempotency record count as in progress; a crashed attempt's are reclaimed after it.
    attempt_seconds: float = API_TIMEOUT_SECONDS

    def fingerprint(self) -> str:
        """Digest of everything that defines the request (reusing a key for another request is refused)."""
        digest = hashlib.sha256()
        for image in self.images:
            if isinstance(image, InlineImage):
                digest.update(b"inline:" + hashlib.sha256(image.data).digest())
            else:
                digest.update(f"upload:{image.upload_id}/{image.index}".encode())
        digest.update(json.dumps(self.model_name).encode())
        hyper = self.hyperparameters
        if hyper.token is None:  # the service picks it: the same digest as when `sks` was the default
            hyper = hyper.model_copy(update={"token": REFERENCE_TOKEN})
        digest.update(hyper.model_dump_json().encode())
        if self.webhook_url is not None:  # absent: the same digest as before webhooks existed
            digest.update(b"webhook:" + self.webhook_url.encode())
        return digest.hexdigest()


class TrainingAccepted(BaseModel):
    """What POST /trainings answers."""

    training_id: str
    model_id: str
    target_model: str
    status: TrainingStatus
    created: str
    replayed: bool = Field(False, description="True when an earlier request with this idempotency key won")
    token: str | None = Field(
        None,
        description="The identifier <<TOK>> stands for (with the class noun); null in answers replayed "
        "from before the service picked tokens",
    )

    @classmethod
    def queued(cls, record: TrainingRecord) -> TrainingAccepted:
        """The answer for the training `record` that this request queued."""
        fields = record.model_dump(include={"training_id", "model_id", "target_model", "created", "token"})
        return cls(status=TrainingStatus.QUEUED, **fields)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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


def family_hyperparameters(
    services: Services, sent: TrainingHyperparameters | None
) -> TrainingHyperparameters:
    """The client's hyper-parameters (None: none sent) with the deployed base family's defaults for what
    is unset; InvalidRequest (400, naming the field) for a value outside that family's bounds."""
    try:
        return for_family(sent, services.base_family)
    except ValidationError as exc:
        errors = [{**e, "loc": ("config", *e["loc"])} for e in exc.errors()]
        raise InvalidRequest(
            f"{describe_validation_errors(errors)} (base family {services.base_family})"
        ) from None


def start_training(services: Services, owner: str, request: NewTraining) -> TrainingAccepted:
    """Validate the images, package the input, queue it on the async endpoint (steps 1-2).

    The same idempotency key from the same owner returns the first training and starts nothing; if the
    endpoint refuses, everything written so far is removed so that a retry starts clean."""
    if not MIN_IMAGES <= len(request.images) <= MAX_IMAGES:
        raise InvalidRequest(
            f"images: {len(request.images)} given; send between {MIN_IMAGES} and {MAX_IMAGES}"
        )
    limits.check_training(request.hyperparameters, services.training_instance_type, services.base_family)
    hyper = request.hyperparameters
    token = hyper.token or _pick_token(services, owner)
    if services.moderation is not None:  # docs/moderation.md: before anything is written or queued
        # What the trainer renders (the token is in every personalized prompt, so it is moderated too).
        rendered = training_prompts(
            token,
            hyper.instance_prompt,
            hyper.class_prompt,
            hyper.validation_prompts,
            effective_class_noun(hyper),
        )
        services.moderation.check_prompts(rendered, "hyperparameters")
    if request.idempotency_key is None:
        return _start(services, owner, request, token, None)
    record_key = services.submissions.record_key(owner, request.idempotency_key)
    result, replayed = services.submissions.once(
        owner,
        request.idempotency_key,
        request.fingerprint(),
        lambda: _start(services, owner, request, token, record_key).model_dump(mode="json"),
        attempt_seconds=request.attempt_seconds,
    )
    accepted = TrainingAccepted.model_validate(result)
    return _replay(services, owner, accepted) if replayed else accepted


def _pick_token(services: Services, owner: str) -> str:
    """The service's instance token for the owner (`avatar_contract.instance_tokens`), skipping any on the
    deny list."""
    moderation = services.moderation
    return pick_token(owner, refused=moderation.deny_listed if moderation is not None else lambda _: False)


def _start(
    services: Services, owner: str, request: NewTraining, token: str, idempotency_record: str | None
) -> TrainingAccepted:
    """Take the owner's training quota, then package, record and queue the training. Until it is queued
    the concurrency slot lasts only as long as this attempt may run (a crashed attempt's slot is
    reclaimed); once queued it lasts until the status consumer releases it (or the training's deadline)."""
    training_id, model_id = keys.new_training_id(), keys.new_model_id()
    created = _now()
    services.quotas.take_training(owner, training_id, hold_seconds=request.attempt_seconds)
    written: list[str] = []
    try:
        # Checked and screened one image at a time; a set the screening refuses (422 with every reason)
        # is refused before any image moderation is paid for.
        images, screened = screening.load_and_screen(services, owner, request.images, request.hyperparameters)
        screening.require_enough(screened, request.hyperparameters)
        if services.moderation is not None:
            services.moderation.check_selfies([image.data for image in images])
        config = training_config_model(services.base_family)(
            **request.hyperparameters.model_dump(exclude={"token"}),
            base_family=services.base_family,
            token=token,
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
        record = TrainingRecord(
            training_id=training_id,
            model_id=model_id,
            model_name=request.model_name,
            created=created,
            target_model=keys.target_model(owner, model_id),
            input_location=services.data.uri(input_key),
            model_s3_uri=config.model_s3_uri,
            preview_s3_prefix=config.preview_s3_prefix,
            image_count=len(images),
            resolution=config.resolution,
            base_family=services.base_family,
            token=token,
            class_noun=effective_class_noun(config),
            idempotency_record=idempotency_record,
            webhook=Webhook(url=request.webhook_url) if request.webhook_url else None,
        )
        etag = services.records.create(owner, record)
        written.extend(services.records.written_keys(owner, record))
        locations = services.training_endpoint.invoke_async(
            input_location=record.input_location,
            inference_id=training_id,
            timeout_seconds=Runtime.ASYNC_INVOCATION_TIMEOUT_SECONDS,
            content_type=INPUT_CONTENT_TYPE,
            queue_ttl_seconds=TRAINING_QUEUE_TTL_SECONDS,
        )
    except EndpointError as error:
        _roll_back(services, owner, training_id, written, refused=False)
        log.error("InvokeEndpointAsync failed", extra={"code": error.code, "status": error.status})
        raise endpoint_failure(error, "training endpoint") from error
    except Exception as error:
        # The caller's refusals (4xx) are metered (docs/limits.md); the service's own failures are not.
        refused = isinstance(error, ApiError) and error.caller_fault
        _roll_back(services, owner, training_id, written, refused=refused)
        raise

    # The training is queued now: from here on, failures must not undo it. Without the locations its
    # status still follows S3 (the artifact, then the deadline: domain.status).
    try:
        services.quotas.keep_training(owner, training_id, hold_seconds=TRAINING_DEADLINE_SECONDS)
    except Exception:
        log.exception("could not extend the slot of a queued training", extra={"training_id": training_id})
    try:
        services.quotas.training_queued(owner)
    except Exception:
        log.exception("could not give back a queued training's refusal", extra={"training_id": training_id})
    for attempt in (1, 2):
        try:
            services.records.replace(owner, record.model_copy(update=locations), etag)
            break
        except Exception:
            log.exception(
                "could not store the output locations of a queued training",
                extra={"training_id": training_id, "attempt": attempt},
            )
    delete_uploaded(services, owner, request.images)
    return TrainingAccepted.queued(record)


def _roll_back(
    services: Services, owner: str, training_id: str, written: list[str], *, refused: bool
) -> None:
    for key in reversed(written):
        try:
            services.data.delete(key)
        except Exception:
            log.exception("rollback could not delete an object", extra={"key": key})
    try:
        services.quotas.give_back_training(owner, training_id, refused=refused)
    except Exception:  # the slot is reclaimed once this attempt's time is up
        log.exception("rollback could not give back the training quota", extra={"training_id": training_id})


def _replay(services: Services, owner: str, accepted: TrainingAccepted) -> TrainingAccepted:
    """The first request's answer, with the training's current status (a deleted model's key was freed,
    so its training exists)."""
    status = status_of(services, owner, accepted.training_id)
    return accepted.model_copy(update={"status": status, "replayed": True})
