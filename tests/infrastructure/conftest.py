"""Synthesize the CDK app once per test session (asset bundling skipped: no pip, no Docker)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


CONSUMER_ROLE_ARN = "arn:aws:iam::123456789012:role/client-app"


@dataclass
class Synth:
    outdir: Path
    templates: dict[str, dict[str, Any]]  # stack id -> CloudFormation template
    validation_error: str | None  # cdk-nag's failure, None when every finding is acknowledged
    report: dict[str, Any]

    def template(self, stack_id: str) -> dict[str, Any]:
        return self.templates[stack_id]

    def resources(self, stack_id: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[stack_id]["Resources"].items()
            if resource["Type"] == resource_type
        }

    def acknowledgments(self) -> dict[str, dict[str, str]]:
        """construct path -> {rule id: reason}, from the cloud assembly's metadata."""
        found: dict[str, dict[str, str]] = {}
        for metadata_file in self.outdir.glob("*.metadata.json"):
            for path, entries in json.loads(metadata_file.read_text()).items():
                for entry in entries:
                    if entry["type"] == "aws:cdk:acknowledged-rules":
                        found.setdefault(path, {}).update(entry["data"])
        return found


def synthesize(outdir: Path, context: dict[str, Any] | None = None) -> Synth:
    from stacks.application import create_app

    app = create_app({"aws:cdk:bundling-stacks": [], **(context or {})}, outdir=str(outdir))
    error = None
    try:
        app.synth()
    except RuntimeError as exc:  # cdk-nag violations interrupt synth after writing the templates
        error = str(exc)
    templates = {
        path.name.removesuffix(".template.json"): json.loads(path.read_text())
        for path in outdir.glob("*.template.json")
    }
    report_file = outdir / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    return Synth(outdir=outdir, templates=templates, validation_error=error, report=report)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(
        tmp_path_factory.mktemp("cdk.out"),
        {"alarmEmail": "ops@example.com", "statusConsumerRoleArns": [CONSUMER_ROLE_ARN]},
    )


@pytest.fixture(scope="session")
def storage(synth: Synth) -> dict[str, Any]:
    return synth.template("AvatarStorage")


@pytest.fixture(scope="session")
def service(synth: Synth) -> dict[str, Any]:
    return synth.template("AvatarService")


VARIANT_CONTEXT = {
    "resourcePrefix": "demo",
    "enableWaf": False,
    "enableEndUsers": False,
    "removalPolicy": "destroy",
    "lambdaArchitecture": "x86_64",
    "trainingInstanceType": "ml.g6.2xlarge",
    "hostingMinCapacity": 2,
    "hostingMaxCapacity": 4,
    "trainingInputRetentionDays": 3,
    "baseImageRegion": "eu-west-1",
    "trainingVpcOnly": True,
    "baseModel": "sdxl-base-1.0",  # the other family: its manifest, its hosting instance type
    # Other settings that change resources, checked on this same synth (one synth fewer each):
    "quotaTrainingsPerDay": 2,  # test_state_table.py
    "quotaGenerationsPerMinute": 7,
    "reservedConcurrencyModels": 0,
    "reservedConcurrencyGenerations": "",
    "moderationPrompts": {"enabled": False},  # test_moderation.py
    "moderationInputs": {"enabled": False},
    "operatorPacksFile": "packs/operator.example.json",  # test_operator_packs.py
}


@pytest.fixture(scope="session")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The app with every non-default option that changes resources (a second, independent synth), on
    the other base family: a test of another setting adds it to VARIANT_CONTEXT rather than synthesizing
    the app again."""
    return synthesize(tmp_path_factory.mktemp("cdk.out.variant"), VARIANT_CONTEXT)
