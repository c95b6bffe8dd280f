"""The training record: what the API stores about one training (and so about the model it makes).

It holds ids and where SageMaker will write the training's outcome; the status itself is read from those
objects (`domain.status`). `adapters.records.TrainingRecords` stores it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

RECORD_SCHEMA_VERSION = 2


class TrainingEventMark(BaseModel):
    """The training event the status consumer derived for this record, and whether it went out."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: str
    status: str
    published: bool = False


class WebhookAttempt(BaseModel):
    """One POST of a training's webhook: when, and the answer's status code or why there was none."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    time: str
    status_code: int | None = None
    error: str | None = None


class Webhook(BaseModel):
    """A training's webhook (docs/events.md, "Webhooks"): its URL and every delivery attempt."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    url: str
    attempts: tuple[WebhookAttempt, ...] = ()
    delivered: bool = Field(False, description="A 2xx answer came back")
    done: bool = Field(False, description="No more attempts: delivered, refused, or out of attempts")


class TrainingRecord(BaseModel):
    """What the API stores about one training (and so about the model it makes)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: int = RECORD_SCHEMA_VERSION
    training_id: str
    model_id: str
    model_name: str | None = None
    created: str
    target_model: str
    input_location: str
    model_s3_uri: str
    preview_s3_prefix: str
    image_count: int
    # What `<<TOK>>` renders as in this model's prompts (moderation renders generation prompts with them);
    # absent in records from before the service picked tokens: the artifact's metadata.json names them.
    token: str | None = None
    class_noun: str | None = None
    # The trained resolution: a generation that names no size renders (and is costed) at it; absent in
    # records from before, whose generations default to the base model's native size.
    resolution: int | None = None
    # The base family it is trained on (avatar_contract.families); absent in records from before
    # families, whose models are sd21-base (`families.family_of`).
    base_family: str | None = None
    # The state table key of the idempotency record that started it (deleting the model frees the key).
    idempotency_record: str | None = None
    # Set once InvokeEndpointAsync has queued the training (SageMaker's OutputLocation/FailureLocation).
    inference_id: str | None = None
    output_location: str | None = None
    failure_location: str | None = None
    # Set by the status consumer (domain.events) from SageMaker's notification and the async output it
    # names: a copy for deduplication and webhooks, never read as the status (domain.status reads S3).
    event: TrainingEventMark | None = None
    # Given at submission; its attempts are recorded by the status consumer (domain.webhooks).
    webhook: Webhook | None = None
    # Preview key -> the moderation labels that withhold it (empty: shown), once screened (domain.previews).
    preview_labels: dict[str, list[dict[str, str | float]]] | None = None
