"""A running training's progress: what the training container writes under the training's prefix
(`keys.progress_key`) and what `GET /trainings/{training_id}` returns while the training is queued.

One model for both sides (docs/training.md, "Progress"). The container overwrites the object at most
every few seconds, and always at a phase change and at the end (`completed` or `failed`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Phase = Literal[
    "preparing_images", "class_images", "training", "previews", "publishing", "completed", "failed"
]


class TrainingProgress(BaseModel):
    """Where one training stands (fields are read by the SDK, the CLI and the web UI by name)."""

    model_config = ConfigDict(extra="ignore")

    phase: Phase
    step: int = Field(0, ge=0, description="Training steps done")
    total_steps: int = Field(0, ge=0, description="Training steps configured (max_train_steps)")
    loss: float | None = Field(None, description="Loss of the last step; null before the first")
    elapsed_seconds: float = Field(0.0, ge=0, description="Since the training container took the job")
    eta_seconds: float | None = Field(
        None, ge=0, description="Time left for the training steps at the measured step rate; null until known"
    )
    updated: str = Field(..., description="When the container wrote this (ISO-8601, UTC)")
    queue_position: int | None = Field(
        None,
        description="Place in the endpoint's queue; null: not knowable (SageMaker's async queue cannot be "
        "inspected per request)",
    )
