"""The REST API's routes and which Lambda function serves each (docs/design.md §4; no dependencies).

The CDK app builds API Gateway resources and integrations from this table, the handlers register the
same paths, and the local cloud's API Gateway dispatches by it, so the three cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Function:
    """One Lambda function: its construct id and its handler (module path inside the Lambda asset)."""

    name: str
    handler: str


TRAININGS: Final = Function("trainings", "avatar_api.handlers.trainings.lambda_handler")
# The light, read-only routes (and upload slots), apart from the submissions' decoding and screening, so
# that a flood of submissions cannot take their concurrency (docs/limits.md).
READS: Final = Function("reads", "avatar_api.handlers.reads.lambda_handler")
MODELS: Final = Function("models", "avatar_api.handlers.models.lambda_handler")
GENERATIONS: Final = Function("generations", "avatar_api.handlers.generations.lambda_handler")
FUNCTIONS: Final = (TRAININGS, READS, MODELS, GENERATIONS)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway syntax: /models/{model_id}
    function: Function
    success_status: int


ROUTES: Final = (
    Route("POST", "/uploads", READS, 201),  # presigned S3 URLs for large selfie sets
    Route("POST", "/trainings", TRAININGS, 202),
    Route("GET", "/trainings/{training_id}", READS, 200),
    Route("GET", "/webhooks/secret", READS, 200),  # the caller's webhook signing secret
    Route("POST", "/webhooks/secret/rotate", TRAININGS, 200),  # a new one; the old one signs for a grace
    Route("GET", "/models", READS, 200),
    Route("GET", "/packs", READS, 200),  # the curated and the operator's avatar packs
    Route("DELETE", "/models/{model_id}", MODELS, 200),
    Route("POST", "/models/{model_id}/generations", GENERATIONS, 200),
    # Pack jobs (docs/packs.md): started and cancelled by the generations function (moderation, the GPU
    # quotas, the pack queue), read by the reads function.
    Route("POST", "/models/{model_id}/packs", GENERATIONS, 202),
    Route("GET", "/models/{model_id}/packs", READS, 200),
    Route("GET", "/models/{model_id}/packs/{job_id}", READS, 200),
    Route("POST", "/models/{model_id}/packs/{job_id}/cancel", GENERATIONS, 200),
)
