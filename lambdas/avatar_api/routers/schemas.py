"""Request bodies and the error body (pydantic): Powertools validates requests against them and builds
the OpenAPI document from them. Success bodies are the domain's own results (`domain.*`), sent as they are."""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from avatar_api.adapters.webhooks import URL_MAX_CHARS, check_url
from avatar_api.settings import IDEMPOTENCY_KEY_MAX_CHARS, MAX_IMAGE_BYTES, MODEL_NAME_MAX_CHARS
from avatar_contract.generation import GenArgs
from avatar_contract.keys import UPLOAD_ID_RE
from avatar_contract.pack_jobs import PackJobRequest
from avatar_contract.status import ErrorCode
from avatar_contract.training import MAX_IMAGES, MIN_IMAGES, PROMPT_MAX_CHARS, TrainingHyperparameters

IDEMPOTENCY_KEY_PATTERN = rf"^[\x21-\x7e]{{1,{IDEMPOTENCY_KEY_MAX_CHARS}}}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageInput(Strict):
    """One selfie: inline base64 (`data`) or a presigned upload (`upload_id` + `index`)."""

    data: str | None = Field(None, description="Base64 JPEG or PNG bytes (standard alphabet, padded)")
    upload_id: str | None = Field(None, pattern=UPLOAD_ID_RE.pattern, description="From POST /uploads")
    index: int | None = Field(None, ge=0, lt=MAX_IMAGES, description="Slot index within the upload batch")

    @field_validator("data")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if len(value) > (MAX_IMAGE_BYTES * 4) // 3 + 8:
            return value  # too large: refused with 413 once decoded, without decoding twice here
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError(f"not valid base64 ({error})") from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ImageInput:
        inline = self.data is not None
        uploaded = self.upload_id is not None or self.index is not None
        if inline == uploaded:
            raise ValueError("give either data (base64) or upload_id and index")
        if uploaded and (self.upload_id is None or self.index is None):
            raise ValueError("an uploaded image needs both upload_id and index")
        return self

    def decoded(self) -> bytes:
        try:
            return base64.b64decode(self.data or "", validate=True)
        except (binascii.Error, ValueError):
            return b""  # only reachable for oversized data; the size check refuses it first


def _checked_webhook_url(value: str | None) -> str | None:
    """A webhook URL field's validator: `check_url`'s refusal, or the value unchanged."""
    if value is not None:
        check_url(value)
    return value


class CreateTrainingRequest(Strict):
    images: list[ImageInput] = Field(..., min_length=MIN_IMAGES, max_length=MAX_IMAGES)
    model_name: str | None = Field(None, min_length=1, max_length=MODEL_NAME_MAX_CHARS)
    config: TrainingHyperparameters | None = Field(None, description="Training hyper-parameters (optional)")
    idempotency_key: str | None = Field(
        None, pattern=IDEMPOTENCY_KEY_PATTERN, description="Same as the Idempotency-Key header"
    )
    dry_run: bool = Field(
        False, description="Only screen the selfies (200, each image's verdict): nothing is stored or started"
    )
    webhook_url: str | None = Field(
        None,
        max_length=URL_MAX_CHARS,
        description="https URL that receives the training's event, signed (docs/events.md, Webhooks)",
    )

    _webhook_url = field_validator("webhook_url")(_checked_webhook_url)


class CreateUploadsRequest(Strict):
    count: int = Field(..., ge=1, le=MAX_IMAGES, description="How many selfies you will upload")


class GenerationRequest(GenArgs):
    """Prompt plus `gen_args`; images come back as PNG (default) or JPEG (`output_format`)."""

    prompt: str = Field(..., min_length=1, max_length=PROMPT_MAX_CHARS, description="May contain <<TOK>>")
    negative_prompt: str = Field("", max_length=PROMPT_MAX_CHARS)
    output_format: Literal["png", "jpeg"] = Field(
        "png", description="jpeg: smaller answers (large PNG batches are refused, see docs/limits.md)"
    )

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    def gen_args(self) -> GenArgs:
        return GenArgs.model_validate(self.model_dump(exclude={"prompt", "negative_prompt"}))


class PackJobBody(PackJobRequest):
    """POST /models/{model_id}/packs (avatar_contract.pack_jobs.PackJobRequest, the one definition), with
    the webhook URL checked as POST /trainings checks it."""

    _webhook_url = field_validator("webhook_url")(_checked_webhook_url)


class ErrorDetail(BaseModel):
    code: ErrorCode
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail
