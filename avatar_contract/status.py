"""The words the parts agree on about a training and a refused request: the training statuses the API
answers and its events carry, and the error codes of `{"error": {"code", "message"}}` (docs/api.md).
One definition each; the API, the client and the web app import them from here."""

from __future__ import annotations

from enum import StrEnum


class TrainingStatus(StrEnum):
    """A training's status (GET /trainings/{training_id}, the training events)."""

    QUEUED = "queued"  # accepted, training or waiting for the publisher's verdict
    COMPLETED = "completed"  # its model is published
    FAILED = "failed"  # with the reason


class ErrorCode(StrEnum):
    """The `code` of an error answer; each code has one HTTP status (avatar_api.routers.common)."""

    INVALID_REQUEST = "invalid_request"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    MODEL_NOT_FOUND = "model_not_found"  # POST /models/{model_id}/packs: no such model of the caller's
    PACK_NOT_FOUND = "pack_not_found"  # no such pack (GET /packs lists them)
    CONFLICT = "conflict"
    MODEL_FAMILY_MISMATCH = "model_family_mismatch"  # a model of another base family than the deployed one
    JOB_FINISHED = "job_finished"  # a pack job whose images have all finished cannot be cancelled
    REQUEST_IN_PROGRESS = "request_in_progress"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    CONTENT_BLOCKED = "content_blocked"
    NOT_ENOUGH_USABLE_IMAGES = "not_enough_usable_images"
    QUOTA_EXCEEDED = "quota_exceeded"
    TOO_MANY_UPLOADS = "too_many_uploads"
    INTERNAL_ERROR = "internal_error"
    UPSTREAM_ERROR = "upstream_error"
    SERVICE_UNAVAILABLE = "service_unavailable"
