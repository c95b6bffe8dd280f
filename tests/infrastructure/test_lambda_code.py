"""The Lambda code asset's local bundling: wheel platforms and requirement parsing (the bundling itself
runs in `make synth`; tests skip it)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_

from stacks.lambda_code import _EXCLUDE, _has_requirements, pip_platforms, wheelhouse


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


def test_asset_admits_only_the_two_packages_and_the_requirements() -> None:
    assert _EXCLUDE[0] == "*"
    admitted = {pattern[1:] for pattern in _EXCLUDE if pattern.startswith("!")}
    assert admitted == {
        "lambdas",
        "lambdas/requirements.txt",
        "lambdas/avatar_api",
        "lambdas/avatar_api/**",
        "avatar_contract",
        "avatar_contract/**",
    }
