"""Point 9: context settings reach the templates (a second synth with non-default settings), and invalid
settings fail synth with a message naming the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from avatar_contract.names import Env
from avatar_runtime.base_model import Manifest
from stacks.base_images import hosting_base_image, training_base_image
from tests.infrastructure.conftest import Synth
from tests.infrastructure.helpers import granted, of_type, one, statements, text

REPO = Path(__file__).resolve().parents[2]


def test_variant_is_still_cdk_nag_clean(variant: Synth) -> None:
    assert variant.validation_error is None, variant.validation_error


def test_waf_can_be_switched_off_with_an_acknowledgment(variant: Synth) -> None:
    service = variant.template("AvatarService")
    assert not of_type(service, "AWS::WAFv2::WebACL")
    acknowledged = {rule for rules in variant.acknowledgments().values() for rule in rules}
    assert "Annotation::AwsSolutions-APIG3" in acknowledged


def test_destroy_policy_empties_and_deletes_buckets_and_keys(variant: Synth) -> None:
    storage = variant.template("AvatarStorage")
    for resource in list(of_type(storage, "AWS::S3::Bucket").values()) + list(
        of_type(storage, "AWS::KMS::Key").values()
    ):
        assert resource["DeletionPolicy"] == "Delete"
    assert len(of_type(storage, "Custom::S3AutoDeleteObjects")) == 3


def test_settings_reach_the_resources(variant: Synth) -> None:
    service, storage = variant.template("AvatarService"), variant.template("AvatarStorage")
    assert one(service, "AWS::SageMaker::Endpoint", "TrainingEndpoint")["EndpointName"] == "demo-training"
    config = one(service, "AWS::SageMaker::EndpointConfig", "TrainingEndpointConfig")
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.g6.2xlarge"
    hosting = one(service, "AWS::SageMaker::EndpointConfig", "HostingEndpointConfig")
    assert hosting["ProductionVariants"][0]["InstanceType"] == "ml.g5.2xlarge"  # sdxl-base-1.0's default
    target = one(service, "AWS::ApplicationAutoScaling::ScalableTarget", "HostingScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 4)
    rules = {
        rule["Id"]: rule
        for props in (v["Properties"] for v in of_type(storage, "AWS::S3::Bucket").values())
        for rule in props.get("LifecycleConfiguration", {}).get("Rules", [])
    }
    assert rules["expire-training-inputs"]["ExpirationInDays"] == 3
    function = next(  # one of ours (not a CDK custom resource's provider)
        v["Properties"]
        for v in of_type(service, "AWS::Lambda::Function").values()
        if "FunctionName" in v["Properties"]
    )
    assert function["Architectures"] == ["x86_64"]
    api_functions = [
        v["Properties"]
        for v in of_type(service, "AWS::Lambda::Function").values()
        if v["Properties"].get("FunctionName") in ("demo-trainings", "demo-generations")
    ]
    assert len(api_functions) == 2
    for api_function in api_functions:
        assert api_function["Environment"]["Variables"][Env.BASE_FAMILY] == "sdxl-base-1.0"
    assert "Layers" not in function  # Powertools is bundled with the code


def test_another_family_is_its_manifest_and_another_staged_prefix(variant: Synth) -> None:
    service = variant.template("AvatarService")
    envs = [
        one(service, "AWS::SageMaker::Model", prefix)["PrimaryContainer"]["Environment"]
        for prefix in ("TrainingModel", "HostingModel")
    ]
    digest = Manifest.load(REPO / "base_models" / "sdxl-base-1.0.json").digest
    assert digest != Manifest.load(REPO / "base_models" / "sd21-base.json").digest
    for env in envs:
        assert env[Env.BASE_MODEL_SHA256] == digest
        assert env[Env.BASE_FAMILY] == "sdxl-base-1.0"
        assert text(env[Env.BASE_MODEL]).endswith(f'/base-models/{digest}/"]]}}')
    for role in ("TrainingExecutionRole", "HostingExecutionRole"):
        assert any(
            f"/base-models/{digest}/*" in r for r in granted(statements(service, role), "s3:GetObject")
        )


def test_base_image_region_is_configurable(variant: Synth) -> None:
    assets = json.loads((variant.outdir / "AvatarService.assets.json").read_text())["dockerImages"]
    args = {a["source"]["dockerFile"]: a["source"]["dockerBuildArgs"]["BASE_IMAGE"] for a in assets.values()}
    assert args["containers/training/Dockerfile"] == training_base_image("eu-west-1")
    assert args["containers/hosting/Dockerfile"] == hosting_base_image("eu-west-1")
    assert ".eu-west-1." in args["containers/hosting/Dockerfile"]


def test_invalid_context_fails_synth_naming_the_key() -> None:
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"trainingMaxCapacity": "lots"})}
    app = [sys.executable, "app.py"]
    result = subprocess.run(app, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert "'trainingMaxCapacity'" in result.stderr
    assert "Traceback" not in result.stderr
