"""The SDK's training presets are documented configuration the service accepts."""

from __future__ import annotations

import pytest

from avatar_client.presets import TRAINING_PRESETS
from avatar_contract.training import TrainingHyperparameters


@pytest.mark.parametrize("name", sorted(TRAINING_PRESETS))
def test_each_preset_is_a_valid_training_configuration(name: str) -> None:
    config = TrainingHyperparameters.model_validate(TRAINING_PRESETS[name])
    assert config.model_dump(include=set(TRAINING_PRESETS[name])) == TRAINING_PRESETS[name]


def test_fast_is_smaller_than_standard_is_smaller_than_best() -> None:
    steps = {
        name: TrainingHyperparameters.model_validate(p).max_train_steps
        for name, p in TRAINING_PRESETS.items()
    }
    assert steps["fast"] < steps["standard"] < steps["best"]
