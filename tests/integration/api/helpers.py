"""Helpers shared by the API's integration tests (the fixtures are in tests.fixtures.api_backend)."""

from __future__ import annotations

from typing import Any

from tests.fixtures.api_backend import Api


def put_successful_result(
    api: Api, output: str, owner: str, accepted: dict[str, Any], preview_keys: list[str], **metrics: Any
) -> None:
    """The async output of the training POST /trainings `accepted`: 10 steps over 10 usable selfies, with
    the previews `preview_keys` (and any other TrainingMetrics field in `metrics`)."""
    api.put_training_result(
        output,
        owner,
        accepted,
        steps=10,
        seconds=3.5,
        final_loss=0.1,
        usable_images=10,
        preview_image_keys=preview_keys,
        **metrics,
    )
