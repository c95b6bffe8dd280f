"""Concurrent submissions with one idempotency key start exactly one training (S3 conditional write)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from avatar_api.aws import TrainingEndpointClient
from avatar_api.domain.trainings import NewTraining, start_training
from avatar_api.domain.uploads import InlineImage
from avatar_api.services import get_services
from avatar_contract.training import TrainingHyperparameters
from tests.fixtures.api import ALICE, image_bytes, owner_id
from tests.fixtures.api_backend import DATA_BUCKET, Api


class CountingSageMakerRuntime:
    """Answers InvokeEndpointAsync as SageMaker does and records each InferenceId it is sent."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def invoke_endpoint_async(self, *, InferenceId: str, **_: Any) -> dict[str, str]:
        with self.lock:
            self.calls.append(InferenceId)
        return {
            "InferenceId": InferenceId,
            "OutputLocation": f"s3://{DATA_BUCKET}/async-outputs/{InferenceId}.out",
            "FailureLocation": f"s3://{DATA_BUCKET}/async-failures/{InferenceId}-error.out",
        }


def test_concurrent_requests_with_one_key_start_one_training(api: Api) -> None:
    services = get_services()
    runtime = CountingSageMakerRuntime()
    services.training_endpoint = TrainingEndpointClient("avatar-training", runtime)
    request = NewTraining(
        images=[InlineImage(image_bytes(seed=i)) for i in range(10)],
        hyperparameters=TrainingHyperparameters(),
        idempotency_key="race",
    )
    owner = owner_id(ALICE)
    barrier = threading.Barrier(6)

    def submit(_: int) -> str:
        barrier.wait()
        return start_training(services, owner, request).training_id

    with ThreadPoolExecutor(6) as pool:
        training_ids = set(pool.map(submit, range(6)))

    assert len(training_ids) == 1
    assert runtime.calls == list(training_ids)
    assert len([k for k in api.object_keys() if k.endswith("input.tar.gz")]) == 1
