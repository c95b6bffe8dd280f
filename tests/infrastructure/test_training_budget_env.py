"""The training container gets its time budget from the stack: the async timeout minus the margin."""

from __future__ import annotations

from typing import Any

from avatar_contract.names import Runtime
from avatar_contract.training_budget import TIME_BUDGET_ENV, TRAINING_TIME_MARGIN_SECONDS
from tests.infrastructure.helpers import one


def test_training_model_carries_the_time_budget(service: dict[str, Any]) -> None:
    env = one(service, "AWS::SageMaker::Model", "TrainingModel")["PrimaryContainer"]["Environment"]
    budget = int(env[TIME_BUDGET_ENV])
    assert budget == Runtime.ASYNC_INVOCATION_TIMEOUT_SECONDS - TRAINING_TIME_MARGIN_SECONDS
    assert 0 < budget < Runtime.ASYNC_INVOCATION_TIMEOUT_SECONDS
