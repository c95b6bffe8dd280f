"""The Lambda code asset: wheel platforms, requirement parsing, and what a real local bundling (as in
`make synth`, from the `.whl/` cache) puts into the asset the functions deploy."""

from __future__ import annotations

import hashlib
import json
import re
from importlib import metadata
from pathlib import Path

import pytest
from aws_cdk import aws_lambda as lambda_

from face_analysis.models import SHA256
from stacks.lambda_code import _REQUIREMENTS as REQUIREMENTS
from stacks.lambda_code import REPOSITORY_ROOT, _has_requirements, pip_platforms, wheelhouse
from tests.infrastructure.conftest import Synth, synthesize

# Function code and layers together, unzipped (Lambda quotas).
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 2**20


def test_wheels_match_the_function_architecture() -> None:
    assert all(p.endswith("_aarch64") for p in pip_platforms(lambda_.Architecture.ARM_64))
    assert all(p.endswith("_x86_64") for p in pip_platforms(lambda_.Architecture.X86_64))
    assert "manylinux_2_28_aarch64" in pip_platforms(lambda_.Architecture.ARM_64)
    assert wheelhouse(lambda_.Architecture.ARM_64) != wheelhouse(lambda_.Architecture.X86_64)


def test_comment_only_requirements_need_no_pip(tmp_path: Path) -> None:
    empty = tmp_path / "requirements.txt"
    empty.write_text("# nothing beyond the Powertools layer\n\n")
    assert not _has_requirements(empty)
    assert not _has_requirements(tmp_path / "missing.txt")
    empty.write_text("# images\npillow==13.0.0  # decoding\n")
    assert _has_requirements(empty)


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Synth, Path]:
    """A synth that really bundles (local pip from the `.whl/` cache, no Docker), and the directory of
    the asset the API functions deploy."""
    built = synthesize(tmp_path_factory.mktemp("cdk.out.bundled"), {"aws:cdk:bundling-stacks": ["**"]})
    functions = built.resources("AvatarService", "AWS::Lambda::Function").values()
    keys = {function["Properties"]["Code"]["S3Key"] for function in functions}
    assert len(keys) == 1, keys  # the functions share one asset
    asset_hash = keys.pop().removesuffix(".zip")
    manifest = json.loads((built.outdir / "AvatarService.assets.json").read_text())
    return built, built.outdir / manifest["files"][asset_hash]["source"]["path"]


def _files(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


@pytest.mark.slow
def test_the_built_asset_holds_our_packages_and_the_wheels_only(bundled: tuple[Synth, Path]) -> None:
    _, asset = bundled
    assert asset.is_dir() and asset != REPOSITORY_ROOT
    for name, source in (("avatar_api", REPOSITORY_ROOT / "lambdas/avatar_api"),
                         ("avatar_contract", REPOSITORY_ROOT / "avatar_contract"),
                         ("avatar_runtime", REPOSITORY_ROOT / "avatar_runtime"),
                         ("face_analysis", REPOSITORY_ROOT / "face_analysis")):  # fmt: skip
        expected = {f for f in _files(source) if "__pycache__" not in f and not f.endswith(".pyc")}
        assert _files(asset / name) == expected, name
    installed = {
        line.split(",", 1)[0].split("/", 1)[0]
        for record in asset.glob("*.dist-info/RECORD")
        for line in record.read_text().splitlines()
    }
    # The model publisher's template (issue 21 M1): config.pbtxt only, no code.
    assert _files(asset / "model_templates") == {"user_lora/config.pbtxt"}
    ours = {"avatar_api", "avatar_contract", "avatar_runtime", "face_analysis", "model_templates"}
    wheels = {entry.name for entry in asset.iterdir()} - ours
    assert wheels and wheels <= installed  # everything else came from a requirement's wheel
    assert "PIL" in wheels  # lambdas/requirements.txt: pillow
    assert not [f for f in _files(asset) if "__pycache__" in f or f.endswith(".pyc")]


@pytest.mark.slow
def test_the_asset_carries_the_face_models_it_loads_and_not_the_68_point_model(
    bundled: tuple[Synth, Path],
) -> None:
    _, asset = bundled
    models = asset / "face_recognition_models" / "models"
    assert sorted(path.name for path in models.iterdir()) == sorted(SHA256)  # face_analysis.models
    for name, digest in SHA256.items():
        assert hashlib.sha256((models / name).read_bytes()).hexdigest() == digest
    assert any(asset.glob("_dlib_pybind11*.so")) or any(asset.glob("dlib/*.so")), "no dlib binary"


@pytest.mark.slow
def test_the_wheels_are_built_for_the_function_architecture(bundled: tuple[Synth, Path]) -> None:
    built, asset = bundled
    architectures = {
        arch
        for function in built.resources("AvatarService", "AWS::Lambda::Function").values()
        for arch in function["Properties"]["Architectures"]
    }
    assert architectures == {"arm64"}  # the default lambdaArchitecture
    tags = [
        line.removeprefix("Tag: ")
        for wheel in asset.glob("*.dist-info/WHEEL")
        for line in wheel.read_text().splitlines()
        if line.startswith("Tag: ")
    ]
    platform_specific = [tag for tag in tags if not tag.endswith("-any")]
    assert platform_specific and all(tag.endswith("_aarch64") for tag in platform_specific), tags


def _pinned(name: str) -> str:
    """The version `lambdas/requirements.lock` locks for `name` (extras allowed)."""
    lines = (line.split("#", 1)[0].strip(" \\") for line in REQUIREMENTS.read_text().splitlines())
    [pin] = [line for line in lines if re.match(rf"{name}(\[[a-z,]+\])?==", line)]
    return pin.rsplit("==", 1)[1]


@pytest.mark.slow
def test_the_built_asset_bundles_the_tested_powertools_release(bundled: tuple[Synth, Path]) -> None:
    _, asset = bundled
    [dist_info] = asset.glob("aws_lambda_powertools-*.dist-info")
    bundled_version = metadata.Distribution.at(dist_info).version
    # The release the tests run (this environment and make test-lambda's), and no layer besides it.
    assert bundled_version == _pinned("aws-lambda-powertools") == metadata.version("aws-lambda-powertools")
    assert (asset / "aws_lambda_powertools" / "__init__.py").is_file()


@pytest.mark.slow
def test_the_built_asset_fits_lambdas_size_limit(bundled: tuple[Synth, Path]) -> None:
    _, asset = bundled
    size = sum(path.stat().st_size for path in asset.rglob("*") if path.is_file())
    assert size < LAMBDA_UNZIPPED_LIMIT_BYTES, f"{size / 2**20:.0f} MiB unzipped"
