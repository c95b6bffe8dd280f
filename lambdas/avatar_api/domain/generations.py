"""Generating images with an owner's model on the multi-model endpoint (steps 7-8)."""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
import time
from collections.abc import Callable

from pydantic import BaseModel, Field

from avatar_api import settings
from avatar_api.domain import limits
from avatar_api.domain.model_identity import model_identity
from avatar_api.domain.models import find_record
from avatar_api.domain.moderation import withhold_blocked
from avatar_api.domain.services import Services
from avatar_api.errors import (
    Conflict,
    EndpointError,
    ModelFamilyMismatch,
    ModelNotReady,
    NotFound,
    ServiceUnavailable,
    UpstreamError,
    endpoint_failure,
)
from avatar_contract import keys
from avatar_contract.families import ARTIFACT_FAMILY_METADATA, FAMILY_KEY, FamilyMismatchError, require_family
from avatar_contract.generation import GenArgs, build_inference_request, images_from_response
from avatar_contract.names import TOKEN_PLACEHOLDER
from avatar_contract.prompts import personalize

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 1.0
# Don't start another attempt with less time than this left: a load that is not done by then won't
# be done within this request either.
MIN_ATTEMPT_SECONDS = 3.0
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}
# The gen_args key that carries the caller's deadline (Unix seconds) to the engine (not a GenArgs field:
# callers cannot set it; hosting_server.engine strips it before validating gen_args).
DEADLINE_ARG = "deadline_unix"


def engine_args(args: GenArgs, remaining: float) -> dict[str, object]:
    """`gen_args` as sent to the endpoint: the arguments plus when the caller stops waiting."""
    return {**args.model_dump(exclude_none=True), DEADLINE_ARG: round(time.time() + remaining, 3)}


class BlockedImage(BaseModel):
    """In place of an image that content moderation withheld (docs/moderation.md)."""

    reason: str = "content_blocked"
    labels: list[dict[str, str | float]] = Field(
        description="The moderation labels: name, category, confidence"
    )


class GeneratedImage(BaseModel):
    content_type: str = "image/png"
    data: str | None = Field(None, description="Base64 image (when the images fit in the response)")
    url: str | None = Field(None, description="Presigned GET URL (when they do not), valid one hour")
    blocked: BlockedImage | None = Field(None, description="Set (and no data or url) when withheld")


class Generation(BaseModel):
    """What POST /models/{model_id}/generations answers: the images and the arguments they were made with."""

    model_id: str
    seed: int
    num_inference_steps: int
    guidance_scale: float
    width: int | None = Field(None, description="Absent: the base model's native size")
    height: int | None = Field(None, description="Absent: the base model's native size")
    images: list[GeneratedImage]


def generate(
    services: Services,
    owner: str,
    model_id: str,
    prompt: str,
    negative_prompt: str,
    gen_args: GenArgs,
    deadline: float,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> Generation:
    """Render `gen_args.num_images` images (`gen_args.output_format`) of `prompt` with the owner's model.

    `deadline` is a `clock()` value: ModelNotReady is retried with exponential backoff until then,
    after which the caller gets a retryable 503. Each attempt waits only for the time left, and the
    engine is told the deadline (it stops rendering for a caller that has given up)."""
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    require_ready(services, owner, model_id)
    gen_args = sized(services, owner, model_id, gen_args)
    limits.check_generation(gen_args, services.hosting_instance_type, services.base_family)
    cost, cost_limit = limits.owner_cost(
        gen_args,
        services.hosting_instance_type,
        services.quotas.limits.generation_gpu_seconds_per_minute,
        services.base_family,
    )
    seed = gen_args.seed if gen_args.seed is not None else secrets.randbelow(2**32)
    args = gen_args.model_copy(update={"seed": seed})
    moderate_prompts(services, owner, model_id, [prompt])  # before anything reaches the GPU
    # Counted once it is headed for the GPU: one of the minute's requests, its cost of the owner's
    # pixel-steps per minute, and one of the owner's slots in flight (released whatever happens).
    generation_id = secrets.token_hex(8)
    services.quotas.take_generation(owner, generation_id, cost, cost_limit, settings.GENERATION_SLOT_SECONDS)
    try:
        return _render(
            services, owner, model_id, (prompt, negative_prompt), args, seed, deadline, sleep, clock
        )
    finally:
        try:
            services.quotas.release_generation(owner, generation_id)
        except Exception:  # reclaimed once GENERATION_SLOT_SECONDS have passed
            log.exception("could not release a generation slot")


def require_ready(services: Services, owner: str, model_id: str) -> None:
    """NotFound (404) for an unknown model or another owner's, Conflict (409) for one still training or
    failed, ModelFamilyMismatch (409) for one trained on another base family than the deployed one. The
    artifact is what the endpoint loads: a training publishes it only on success. Without it
    the record tells an unknown model from one still training or failed; with it, the record is read only
    when a request names no size (`sized`)."""
    artifact = (
        services.hosting.user_metadata(keys.model_key(owner, model_id))
        if keys.MODEL_ID_RE.fullmatch(model_id)
        else None
    )
    if artifact is None:
        record = find_record(services, owner, model_id)
        raise Conflict(
            f"model {model_id!r} is not ready: its training is still running or failed "
            f"(see GET /trainings/{record.training_id})"
        )
    # Its published archive's S3 metadata names its base family (none: published before families).
    try:
        named = {FAMILY_KEY: artifact.get(ARTIFACT_FAMILY_METADATA)}
        require_family(named, services.base_family, f"model {model_id!r}")
    except FamilyMismatchError as exc:
        raise ModelFamilyMismatch(str(exc)) from None


def moderate_prompts(
    services: Services, owner: str, model_id: str, prompts: list[str], field: str = "prompt"
) -> None:
    """ContentBlocked (422) for a prompt moderation refuses as the engine renders it (`<<TOK>>` as the
    model's token and class noun)."""
    if services.moderation is None:
        return
    if any(TOKEN_PLACEHOLDER in prompt for prompt in prompts):
        identity = model_identity(services, owner, model_id)
        prompts = [personalize(prompt, identity) for prompt in prompts]
    services.moderation.check_prompts(prompts, field)


def sized(services: Services, owner: str, model_id: str, args: GenArgs) -> GenArgs:
    """A size the request leaves out is the model's trained resolution (its record), else the base
    family's native size, sent to the engine explicitly: what renders is what the bounds costed."""
    if args.width is not None and args.height is not None:
        return args
    record = services.records.find_by_model(owner, model_id)
    size = (
        record.resolution
        if record is not None and record.resolution
        else limits.native_size(services.base_family)
    )
    return args.model_copy(update={"width": args.width or size, "height": args.height or size})


def invoke_engine(
    services: Services,
    owner: str,
    model_id: str,
    prompts: tuple[str, str],
    args: GenArgs,
    remaining: float,
) -> list[str]:
    """One InvokeEndpoint with `TargetModel` (the owner's model), waiting at most `remaining` seconds;
    the base64 images. Raises ModelNotReady (being loaded), EndpointError (the runtime refused or
    failed) or UpstreamError (an unreadable answer)."""
    prompt, negative_prompt = prompts
    payload = build_inference_request(prompt, negative_prompt, engine_args(args, remaining))
    response = services.hosting_endpoint.invoke(
        keys.target_model(owner, model_id), payload, read_timeout=remaining
    )
    try:
        encoded = images_from_response(response)
        for item in encoded:
            base64.b64decode(item, validate=True)
    except (ValueError, binascii.Error, KeyError, TypeError) as error:
        raise UpstreamError("the model endpoint returned an unreadable response") from error
    return encoded


def _render(
    services: Services,
    owner: str,
    model_id: str,
    prompts: tuple[str, str],
    args: GenArgs,
    seed: int,
    deadline: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> Generation:
    """Invoke the endpoint (a model being loaded is retried until `deadline`) and answer the images."""
    content_type = CONTENT_TYPES[args.output_format]

    backoff = FIRST_BACKOFF_SECONDS
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            raise ServiceUnavailable(
                f"model {model_id!r} did not answer in time; retry",
                retry_after=settings.MODEL_NOT_READY_RETRY_AFTER_SECONDS,
            )
        try:
            encoded = invoke_engine(services, owner, model_id, prompts, args, remaining)
            break
        except ModelNotReady as error:
            remaining = deadline - clock()
            if remaining < backoff + MIN_ATTEMPT_SECONDS:
                raise ServiceUnavailable(
                    f"model {model_id!r} is being loaded; retry in a little while",
                    retry_after=settings.MODEL_NOT_READY_RETRY_AFTER_SECONDS,
                ) from error
            log.info("model not ready, retrying", extra={"backoff_seconds": backoff})
            sleep(backoff)
            backoff *= 2
        except EndpointError as error:
            if error.code == "ValidationError" and "not found" in str(error).lower():
                raise NotFound(f"model {model_id!r} has no artifact") from error
            raise endpoint_failure(
                error, "model endpoint", retry_after=settings.MODEL_NOT_READY_RETRY_AFTER_SECONDS
            ) from error

    blocked = withhold_blocked(services.moderation, encoded)
    if sum(len(item) for item in encoded) <= settings.MAX_INLINE_IMAGES_BYTES:
        images = [GeneratedImage(content_type=content_type, data=item) for item in encoded]
    else:
        generation_id = keys.new_generation_id()
        images = []
        for index, item in enumerate(encoded):
            if index in blocked:
                images.append(GeneratedImage())
                continue
            key = keys.generation_image_key(owner, model_id, generation_id, index)
            services.data.put_bytes(key, base64.b64decode(item), content_type)
            images.append(
                GeneratedImage(
                    content_type=content_type,
                    url=services.data.presigned_get(key, settings.DOWNLOAD_URL_EXPIRES_SECONDS),
                )
            )
    for index, labels in blocked.items():
        images[index] = GeneratedImage(data=None, url=None, blocked=BlockedImage(labels=labels))
    used = args.model_dump(include={"num_inference_steps", "guidance_scale", "width", "height"})
    return Generation(model_id=model_id, seed=seed, images=images, **used)
