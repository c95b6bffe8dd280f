"""The local cloud's base model is the tiny random-weight pipeline of the configured base family."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local_cloud.cloud import LocalCloud


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "pipeline"),
    [("sd21-base", "StableDiffusionPipeline"), ("sdxl-base-1.0", "StableDiffusionXLPipeline")],
)
def test_the_tiny_base_follows_the_configured_base_family(family: str, pipeline: str, tmp_path: Path) -> None:
    cloud = LocalCloud(state_dir=tmp_path, context={"baseModel": family})
    cloud._resolve_base_model()
    base = cloud.base_model
    assert json.loads((base / "model_index.json").read_text())["_class_name"] == pipeline
