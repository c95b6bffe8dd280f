"""The smoke run's inputs: a real training input archive and the containers' environment."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from PIL import Image

from avatar_contract.families import FamilyName
from avatar_contract.names import Env
from avatar_contract.training import TrainingConfig, hyperparameters_model
from images.smoke import DATA_BUCKET, HOSTING_BUCKET, container_env, input_archive


def test_input_archive_holds_ten_photos_and_a_valid_config() -> None:
    body, config = input_archive()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    photos = [name for name in members if name.endswith(".jpg")]
    assert len(photos) == 10 and set(members) == {*photos, "config.json"}
    assert Image.open(io.BytesIO(members[photos[0]])).format == "JPEG"
    parsed = TrainingConfig.model_validate(json.loads(members["config.json"]))
    assert parsed.model_dump(exclude_unset=True) == config
    assert parsed.model_s3_uri.startswith(f"s3://{HOSTING_BUCKET}/")
    assert parsed.preview_s3_prefix.startswith(f"s3://{DATA_BUCKET}/")


def test_containers_reach_aws_through_the_given_endpoint_only() -> None:
    env = container_env("http://127.0.0.1:5000", "s3://bucket/base/")
    assert env[Env.AWS_ENDPOINT_URL] == "http://127.0.0.1:5000"
    assert env[Env.BASE_MODEL] == "s3://bucket/base/"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"


@pytest.mark.parametrize("family", list(FamilyName))
def test_the_containers_are_told_the_family_smoke_run(family: FamilyName) -> None:
    assert container_env("http://127.0.0.1:5000", "s3://b/base/", family)[Env.BASE_FAMILY] == family
    assert container_env("http://127.0.0.1:5000", "s3://b/base/")[Env.BASE_FAMILY] == "sd21-base"


@pytest.mark.parametrize("family", list(FamilyName))
def test_the_smoke_training_fits_every_familys_bounds(family: FamilyName) -> None:
    """One input archive serves both families' smoke runs: its settings are within each one's bounds."""
    _, config = input_archive()
    fields = hyperparameters_model(family).model_fields
    hyperparameters_model(family).model_validate({k: v for k, v in config.items() if k in fields})
