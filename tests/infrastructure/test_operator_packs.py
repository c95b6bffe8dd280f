"""cdk.json `operatorPacksFile`: the API functions find the operator's packs in their code asset."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import aws_lambda as lambda_

from avatar_contract.names import Env
from avatar_contract.packs import load_operator_packs
from stacks import lambda_code
from stacks.lambda_code import OPERATOR_PACKS_ASSET_FILE, LocalPipBundling
from tests.infrastructure.conftest import VARIANT_CONTEXT, Synth

EXAMPLE = "packs/operator.example.json"


def test_the_functions_are_told_where_the_packs_file_is(variant: Synth) -> None:
    assert VARIANT_CONTEXT["operatorPacksFile"] == EXAMPLE
    functions = [
        resource["Properties"]
        for stack_id in variant.templates
        for resource in variant.resources(stack_id, "AWS::Lambda::Function").values()
        if "avatar_api.handlers.reads" in str(resource["Properties"].get("Handler"))
    ]
    assert functions
    for props in functions:
        assert props["Environment"]["Variables"][Env.OPERATOR_PACKS] == OPERATOR_PACKS_ASSET_FILE


def test_the_bundle_carries_the_packs_file_at_the_code_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lambda_code, "install_wheels", lambda *_: None)  # the wheels: test_lambda_code.py
    out = tmp_path / "asset"
    out.mkdir()
    LocalPipBundling(lambda_.Architecture.ARM_64, EXAMPLE).try_bundle(str(out), image=None)
    assert [p.name for p in load_operator_packs(out / OPERATOR_PACKS_ASSET_FILE)] == ["garden-party"]
    assert (out / "avatar_contract" / "pack_data" / "astronaut.json").is_file()  # the curated packs
