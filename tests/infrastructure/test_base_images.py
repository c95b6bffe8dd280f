"""The containers' default base images are the ones the CDK app resolves (no drift between the two)."""

import re
from pathlib import Path

import pytest

from stacks.base_images import UnknownRegionError, hosting_base_image, training_base_image

REPO = Path(__file__).resolve().parents[2]


def _default_base_image(dockerfile: Path) -> str:
    match = re.search(r"^ARG BASE_IMAGE=(\S+)$", dockerfile.read_text(), re.MULTILINE)
    assert match, f"{dockerfile} must declare ARG BASE_IMAGE=<default>"
    return match.group(1)


def test_dockerfile_defaults_match_the_images_resolved_for_us_east_1() -> None:
    assert _default_base_image(REPO / "containers/training/Dockerfile") == training_base_image("us-east-1")
    assert _default_base_image(REPO / "containers/hosting/Dockerfile") == hosting_base_image("us-east-1")


def test_base_images_differ_by_region_where_the_registry_does() -> None:
    assert training_base_image("us-east-1").startswith("763104351884.dkr.ecr.us-east-1.")
    assert ".dkr.ecr.eu-west-1." in hosting_base_image("eu-west-1")


def test_unknown_region_is_a_clear_error() -> None:
    with pytest.raises(UnknownRegionError, match="baseImageRegion"):
        training_base_image("xx-nowhere-1")
