"""Destinations: a config writes only to this training's own places in the service's own buckets."""

from __future__ import annotations

from typing import Any

import pytest

from avatar_contract.keys import model_key, new_model_id, new_training_id, preview_prefix
from tests.fixtures.owners import owner_id
from tests.fixtures.training_samples import training_config
from training_service.config import check_destinations, load_training_config
from training_service.errors import InvalidInput, TrainingError
from training_service.settings import Settings

SETTINGS = Settings(hosting_bucket="hosting", data_bucket="data")
MALLORY = owner_id("arn:aws:iam::123456789012:user/mallory")


def _config(**overrides: Any):
    return load_training_config(training_config("hosting", "data", **overrides), SETTINGS)


def test_own_destinations_are_accepted() -> None:
    config = _config()
    found = check_destinations(config, SETTINGS)
    assert (found.model_bucket, found.model_key) == ("hosting", model_key(config.owner, config.model_id))
    assert (found.preview_bucket, found.preview_prefix) == (
        "data",
        preview_prefix(config.owner, config.training_id),
    )


def _hostile(raw: dict[str, Any]) -> dict[str, dict[str, str]]:
    owner, training_id, model_id = raw["owner"], raw["training_id"], raw["model_id"]
    return {
        "artifact in another bucket": {"model_s3_uri": f"s3://attacker/{model_key(owner, model_id)}"},
        "artifact in the data bucket": {"model_s3_uri": f"s3://data/{model_key(owner, model_id)}"},
        "artifact under another owner": {"model_s3_uri": f"s3://hosting/{model_key(MALLORY, model_id)}"},
        "artifact of another model": {"model_s3_uri": f"s3://hosting/{model_key(owner, new_model_id())}"},
        "artifact key with a prefix": {"model_s3_uri": f"s3://hosting/x/{model_key(owner, model_id)}"},
        "previews in another bucket": {
            "preview_s3_prefix": f"s3://attacker/{preview_prefix(owner, training_id)}"
        },
        "previews in the hosting bucket": {
            "preview_s3_prefix": f"s3://hosting/{preview_prefix(owner, training_id)}"
        },
        "previews of another training": {
            "preview_s3_prefix": f"s3://data/{preview_prefix(owner, new_training_id())}"
        },
        "previews under another owner": {
            "preview_s3_prefix": f"s3://data/{preview_prefix(MALLORY, training_id)}"
        },
        "previews at the models prefix": {"preview_s3_prefix": f"s3://data/models/{owner}/"},
        "previews deeper in the prefix": {
            "preview_s3_prefix": f"s3://data/{preview_prefix(owner, training_id)}x/"
        },
    }


CASES = list(_hostile(training_config("hosting", "data")))


@pytest.mark.parametrize("case", CASES)
def test_hostile_destinations_are_refused_with_the_field(case: str) -> None:
    raw = training_config("hosting", "data")
    change = _hostile(raw)[case]
    config = load_training_config({**raw, **change}, SETTINGS)
    with pytest.raises(InvalidInput) as caught:
        check_destinations(config, SETTINGS)
    assert caught.value.status == 400
    assert next(iter(change)) in caught.value.reason


def test_malformed_identity_is_refused() -> None:
    raw = training_config("hosting", "data")
    config = load_training_config({**raw, "owner": "../../etc"}, SETTINGS)
    with pytest.raises(InvalidInput, match="owner"):
        check_destinations(config, SETTINGS)


def test_a_service_without_buckets_writes_nowhere() -> None:
    with pytest.raises(TrainingError, match="no configured buckets") as caught:
        check_destinations(_config(), Settings())
    assert caught.value.status == 500
