"""The Lambda code asset's local bundling: wheel platforms, requirement parsing, and the asset itself,
built here as `cdk synth` builds it (the stacks' tests skip bundling)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aws_cdk import DockerImage
from aws_cdk import aws_lambda as lambda_

from avatar_contract import routes
from stacks.lambda_code import _REQUIREMENTS as REQUIREMENTS
from stacks.lambda_code import LocalPipBundling, _has_requirements, pip_platforms, wheelhouse

# Function code and layers together, unzipped (Lambda quotas).
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 2**20


def test_wheels_match_the_function_architecture() -> None:
    assert all(p.endswith("_aarch64") for p in pip_platforms(lambda_.Architecture.ARM_64))
    assert all(p.endswith("_x86_64") for p in pip_platforms(lambda_.Architecture.X86_64))
    assert "manylinux_2_28_aarch64" in pip_platforms(lambda_.Architecture.ARM_64)
    assert wheelhouse(lambda_.Architecture.ARM_64) != wheelhouse(lambda_.Architecture.X86_64)


def test_comment_only_requirements_need_no_pip(tmp_path: Path) -> None:
    empty = tmp_path / "requirements.txt"
    empty.write_text("# nothing\n\n")
    assert not _has_requirements(empty)
    assert not _has_requirements(tmp_path / "missing.txt")
    empty.write_text("# images\npillow==13.0.0  # decoding\n")
    assert _has_requirements(empty)


@pytest.fixture(scope="module")
def built_asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The functions' code asset as `cdk synth` bundles it (from the wheelhouse `make setup` fills)."""
    output = tmp_path_factory.mktemp("asset")
    assert LocalPipBundling(lambda_.Architecture.ARM_64).try_bundle(str(output), image=DockerImage("unused"))
    return output


def _pinned(name: str) -> str:
    lines = (line.split("#", 1)[0].strip() for line in REQUIREMENTS.read_text().splitlines())
    [pin] = [line for line in lines if re.match(rf"{name}(\[[a-z,]+\])?==", line)]
    return pin.rsplit("==", 1)[1]


def test_asset_bundles_the_tested_powertools_release(built_asset: Path) -> None:
    from importlib import metadata

    [dist_info] = built_asset.glob("aws_lambda_powertools-*.dist-info")
    bundled = metadata.Distribution.at(dist_info).version
    assert bundled == _pinned("aws-lambda-powertools") == metadata.version("aws-lambda-powertools")
    assert (built_asset / "aws_lambda_powertools" / "__init__.py").is_file()


def test_asset_holds_the_handlers_and_wheels_for_lambda(built_asset: Path) -> None:
    for function in routes.FUNCTIONS:
        module = function.handler.rsplit(".", 1)[0]
        assert (built_asset / (module.replace(".", "/") + ".py")).is_file(), function.handler
    assert (built_asset / "avatar_contract" / "keys.py").is_file()
    assert not list(built_asset.rglob("__pycache__"))
    # Compiled wheels for the function's platform, not this machine's.
    [core] = built_asset.glob("pydantic_core/_pydantic_core*.so")
    assert "aarch64" in core.name and "cpython-312" in core.name


def test_asset_fits_lambdas_size_limit(built_asset: Path) -> None:
    size = sum(path.stat().st_size for path in built_asset.rglob("*") if path.is_file())
    assert size < LAMBDA_UNZIPPED_LIMIT_BYTES, f"{size / 2**20:.0f} MiB unzipped"
