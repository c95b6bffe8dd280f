"""`<<TOK>>` gives the same text at training and at generation: the training service's instance and
validation prompts equal what the hosting engine renders from the metadata the training writes."""

from __future__ import annotations

import json

import pytest

from avatar_contract.training import TrainingConfig
from hosting_server.engine import render_prompt
from tests.fixtures.training_samples import training_config
from training_service.config import load_training_config
from training_service.personalization import instance_text, validation_texts
from training_service.service import _metadata
from training_service.settings import Settings

SETTINGS = Settings(hosting_bucket="hosting", data_bucket="data")
OURS = training_config("hosting", "data", validation_prompts=["a photo of <<TOK>>", "<<TOK>> in the rain"])
# The reference sample's own keys: its concept prompt, its class prompt, its portrait prompt.
REFERENCE = {"concept_prompt": "photo of <<TOK>>", "class_prompt": "photo of a woman", "n_steps": 10}


def _hosted_metadata(config: TrainingConfig) -> dict:
    """metadata.json as the training writes it and the hosting engine reads it back."""
    return json.loads(json.dumps(_metadata(config, SETTINGS, SETTINGS.base_family, final_loss=0.1)))


@pytest.mark.parametrize(
    ("raw", "trained_on"),
    [(OURS, "a photo of sks person"), (REFERENCE, "photo of sks woman")],
    ids=["ours", "reference"],
)
def test_same_template_same_text_at_training_and_generation(raw: dict, trained_on: str) -> None:
    config = load_training_config(dict(raw), SETTINGS)
    metadata = _hosted_metadata(config)

    assert instance_text(config) == trained_on
    assert render_prompt(config.instance_prompt, metadata) == trained_on
    assert metadata["instance_prompt"] == trained_on
    for template, trained in zip(config.validation_prompts, validation_texts(config), strict=True):
        assert render_prompt(template, metadata) == trained
    phrase = " ".join(trained_on.split()[-2:])  # token and class noun
    assert render_prompt("photo of <<TOK>> epic portrait", metadata) == f"photo of {phrase} epic portrait"
