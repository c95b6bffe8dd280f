"""Issue 10 A: both endpoints load the staged base model (its content-addressed prefix, derived from the
committed manifest at synth), may read exactly that prefix, never the Hub; training caches class images."""

from __future__ import annotations

import json
from typing import Any

from avatar_contract.names import Env, Prefix
from stacks.base_model import load_manifest
from stacks.config import ServiceConfig
from tests.infrastructure.conftest import Synth
from tests.infrastructure.helpers import granted, one, statements, text

MANIFEST = load_manifest(ServiceConfig())
PREFIX = f"base-models/{MANIFEST.digest}/"


def test_both_containers_get_the_staged_uri_its_digest_and_no_hub(service: dict[str, Any]) -> None:
    for model in ("TrainingModel", "HostingModel"):
        env = one(service, "AWS::SageMaker::Model", model)["PrimaryContainer"]["Environment"]
        uri = text(env[Env.BASE_MODEL])
        assert uri.startswith('{"Fn::Join": ["", ["s3://avatar-data-') and uri.endswith(f'/{PREFIX}"]]}}')
        assert env[Env.BASE_MODEL_SHA256] == MANIFEST.digest
        assert env["HF_HUB_OFFLINE"] == "1"


def test_the_service_stack_outputs_the_staged_uri(service: dict[str, Any]) -> None:
    output = service["Outputs"]["BaseModelUri"]
    assert text(output["Value"]).endswith(f'/{PREFIX}"]]}}') and "stage-base-model" in output["Description"]


def test_each_role_reads_exactly_the_staged_prefix(service: dict[str, Any]) -> None:
    for role in ("TrainingExecutionRole", "HostingExecutionRole"):
        stmts = statements(service, role)
        base = [r for r in granted(stmts, "s3:GetObject") if Prefix.BASE_MODELS in r]
        assert base and all(f'/{PREFIX}*"' in r for r in base), base
        writes = granted(stmts, "s3:PutObject")
        assert not any(Prefix.BASE_MODELS in r for r in writes)  # read-only
        listing = [s for s in stmts if "s3:ListBucket" in json.dumps(s["Action"]) and PREFIX in json.dumps(s)]
        assert listing and all(s["Condition"]["StringLike"]["s3:prefix"] for s in listing)
        assert any(
            "kms:Decrypt" in json.dumps(s["Action"]) and "DataKey" in text(s["Resource"]) for s in stmts
        )


def test_training_may_read_and_write_the_class_image_cache_and_hosting_may_not(
    service: dict[str, Any],
) -> None:
    training = statements(service, "TrainingExecutionRole")
    for action in ("s3:GetObject", "s3:PutObject"):
        assert any(f"/{Prefix.CLASS_IMAGES}*" in r for r in granted(training, action)), action
    hosting = statements(service, "HostingExecutionRole")
    assert not any(Prefix.CLASS_IMAGES in r for r in granted(hosting, "s3:GetObject"))


def test_the_prefix_grants_are_acknowledged_by_name(synth: Synth) -> None:
    assert synth.validation_error is None, synth.validation_error
    found = synth.acknowledgments()
    bucket = "avatar-data-<AWS::AccountId>-<AWS::Region>"
    data = f"Annotation::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{bucket}"
    for endpoint in ("Training", "Hosting"):
        rules = found[f"/AvatarService/{endpoint}/ExecutionRole"]
        assert "make stage-base-model" in rules[f"{data}/{PREFIX}*]"]
        assert (f"{data}/{Prefix.CLASS_IMAGES}*]" in rules) == (endpoint == "Training")


def test_an_unpinned_manifest_is_a_synth_warning_and_only_then(synth: Synth) -> None:
    metadata = json.loads((synth.outdir / "AvatarService.metadata.json").read_text())
    warnings = [e["data"] for entries in metadata.values() for e in entries if e["type"] == "aws:cdk:warning"]
    warned = any("base_models/sd21-base.json is not pinned" in str(w) for w in warnings)
    assert warned == bool(MANIFEST.problems()), warnings  # warned exactly while it is not recorded


def test_make_deploy_stages_and_checks_the_base_model_before_the_service_stack() -> None:
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    plan = subprocess.run(
        ["make", "-n", "deploy"], cwd=repo, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    steps = [
        "base_model_staging check --manifest-only",
        "deploy AvatarStorage",
        "base_model_staging stage",
        "base_model_staging check\n",
        "deploy --all",
    ]
    positions = [plan.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), plan
