"""ServiceConfig: one definition per key, checked against cdk.json and docs/configuration.md; defaults,
parsing of CLI strings, clear errors naming the key, physical names."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from stacks.config import (
    SETTINGS,
    ConfigError,
    ServiceConfig,
    doctor_arguments,
    documented_context,
    markdown_table,
)

REPO = Path(__file__).resolve().parents[2]


def test_cdk_json_documents_every_setting_with_its_default() -> None:
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    for setting in SETTINGS:
        assert setting.key in context
        documented = context[setting.key]
        expected = setting.default
        if expected is None:
            assert documented == ""
        elif isinstance(expected, tuple):
            assert documented == list(expected)
        elif dataclasses.is_dataclass(expected):  # the moderation stages: an object in cdk.json
            assert setting.parse(setting.key, documented) == expected
        else:
            assert documented == expected
    assert ServiceConfig.from_context(context) == ServiceConfig()


def test_cdk_json_context_is_exactly_the_documented_context() -> None:
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    assert context == documented_context()


def test_every_field_of_the_settings_object_is_one_setting() -> None:
    defaults = ServiceConfig()
    assert [s.attribute for s in SETTINGS] == [f for f in ServiceConfig.__dataclass_fields__]
    assert len({s.key for s in SETTINGS}) == len(SETTINGS)
    for setting in SETTINGS:
        assert getattr(defaults, setting.attribute) == setting.default, setting.key
        assert setting.doc.strip(), setting.key


def test_defaults() -> None:
    config = ServiceConfig.from_context({})
    assert config.training_instance_type == "ml.g5.2xlarge"
    assert config.hosting_instance_type == "ml.g5.xlarge"
    assert config.base_model_manifest == "base_models/sd21-base.json"
    assert config.base_model == "sd21-base"
    assert config.training_input_retention_days == 7


@pytest.mark.parametrize(
    ("name", "training", "hosting"),
    [("sd21-base", "ml.g5.2xlarge", "ml.g5.xlarge"), ("sdxl-base-1.0", "ml.g5.2xlarge", "ml.g5.2xlarge")],
)
def test_base_model_selects_the_family_manifest_and_instance_defaults(
    name: str, training: str, hosting: str
) -> None:
    config = ServiceConfig.from_context({"baseModel": name})
    assert config.family.name == name
    assert config.base_model_manifest == f"base_models/{name}.json"
    assert (config.training_instance_type, config.hosting_instance_type) == (training, hosting)


def test_instance_type_keys_override_the_family_defaults() -> None:
    config = ServiceConfig.from_context(
        {"baseModel": "sdxl-base-1.0", "trainingInstanceType": "ml.g6e.xlarge", "hostingInstanceType": ""}
    )
    assert config.training_instance_type == "ml.g6e.xlarge"
    assert config.hosting_instance_type == "ml.g5.2xlarge"


def test_command_line_strings_are_parsed() -> None:
    config = ServiceConfig.from_context(
        {
            "trainingMaxCapacity": "4",
            "enableWaf": "false",
            "hostingGpuUtilizationTarget": "55.5",
            "statusConsumerRoleArns": "arn:aws:iam::123456789012:role/a, arn:aws:iam::123456789012:role/b",
            "baseModelManifest": "base_models/private-mirror.json",
        }
    )
    assert config.training_max_capacity == 4
    assert config.enable_waf is False
    assert config.hosting_gpu_utilization_target == 55.5
    assert len(config.status_consumer_role_arns) == 2
    assert config.base_model_manifest == "base_models/private-mirror.json"


@pytest.mark.parametrize(
    ("context", "key"),
    [
        ({"trainingMaxCapacity": "many"}, "trainingMaxCapacity"),
        ({"trainingMaxCapacity": 0}, "trainingMaxCapacity"),
        ({"trainingMaxCapacity": True}, "trainingMaxCapacity"),
        ({"trainingInstanceType": "g5.2xlarge"}, "trainingInstanceType"),
        ({"hostingInstanceType": "ml.g5.12xlarge"}, "hostingInstanceType"),
        ({"hostingMinCapacity": 0}, "hostingMinCapacity"),
        ({"hostingMinCapacity": 3, "hostingMaxCapacity": 2}, "hostingMinCapacity"),
        ({"baseModelManifest": "s3://bucket/manifest.json"}, "baseModelManifest"),
        ({"baseModel": "sd15"}, "baseModel"),
        ({"baseModelManifest": "base_models/sd21-base.yaml"}, "baseModelManifest"),
        ({"baseModelId": "stabilityai/stable-diffusion-2-1-base"}, "baseModelId"),  # replaced by the manifest
        ({"trainingInputRetentionDays": -1}, "trainingInputRetentionDays"),
        ({"enableWaf": "yes"}, "enableWaf"),
        ({"alarmEmail": "not-an-address"}, "alarmEmail"),
        ({"logRetentionDays": 2}, "logRetentionDays"),
        ({"removalPolicy": "snapshot"}, "removalPolicy"),
        ({"resourcePrefix": "Avatar_Prod"}, "resourcePrefix"),
        ({"statusConsumerRoleArns": ["arn:aws:iam::123:user/x"]}, "statusConsumerRoleArns"),
        ({"baseImageRegion": "moon-1"}, "baseImageRegion"),
        ({"trainingInstanceTyp": "ml.g5.2xlarge"}, "trainingInstanceTyp"),
    ],
)
def test_invalid_values_name_the_key(context: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=f"'{key}'"):
        ServiceConfig.from_context(context)


def test_typo_suggests_the_right_key() -> None:
    with pytest.raises(ConfigError, match="did you mean 'trainingInstanceType'"):
        ServiceConfig.from_context({"trainingInstanceTyp": "ml.g5.2xlarge"})


def test_cdk_keys_are_ignored() -> None:
    config = ServiceConfig.from_context({"aws:cdk:bundling-stacks": [], "@aws-cdk/core:flag": True})
    assert config == ServiceConfig()


def test_physical_names_follow_the_prefix() -> None:
    config = ServiceConfig.from_context({"resourcePrefix": "demo"})
    assert config.training_endpoint_name == "demo-training"
    assert config.hosting_endpoint_name == "demo-hosting"
    assert config.training_success_topic_name == "demo-training-success"
    assert config.training_error_topic_name == "demo-training-error"
    assert config.status_queue_name == "demo-training-status"
    assert config.status_dead_letter_queue_name == "demo-training-status-dlq"
    assert config.function_name("trainings") == "demo-trainings"
    assert (config.data_bucket_name, config.hosting_bucket_name) == ("demo-data", "demo-hosting")


def test_config_modules_import_only_the_standard_library() -> None:
    """The local cloud imports these without the CDK: standard library, names and each other only."""
    allowed = {
        "__future__",
        "difflib",
        "json",
        "math",
        "pathlib",
        "re",
        "collections.abc",
        "dataclasses",
        "typing",
        "avatar_contract.names",
        "avatar_contract.families",
        "avatar_runtime.gpu",
        "avatar_contract.moderation",
        "stacks",
    }
    modules = [*sorted((REPO / "stacks").glob("config*.py")), REPO / "stacks" / "gpu_runtime.py"]
    assert len(modules) >= 5
    for module_path in modules:
        for line in module_path.read_text().splitlines():
            if line.startswith(("import ", "from ")):
                module = line.split()[1]
                assert module in allowed or module.startswith(("stacks.config", "stacks.gpu_runtime")), line


def test_base_image_region_falls_back() -> None:
    assert ServiceConfig().resolved_base_image_region(None) == "us-east-1"
    assert ServiceConfig().resolved_base_image_region("eu-west-1") == "eu-west-1"
    configured = ServiceConfig(base_image_region="ap-south-1")
    assert configured.resolved_base_image_region("eu-west-1") == "ap-south-1"


def _docs_section() -> str:
    docs = (REPO / "docs" / "configuration.md").read_text()
    return docs[docs.index("<!-- BEGIN configuration -->") : docs.index("<!-- END configuration -->")]


def test_docs_document_every_setting() -> None:
    section = _docs_section()
    for setting in SETTINGS:
        assert f"| `{setting.key}` |" in section, setting.key


def test_docs_table_is_the_table_of_the_definitions() -> None:
    """Defaults and meanings in docs/configuration.md are those of the definitions, row by row."""
    table = [line for line in _docs_section().splitlines() if line.startswith("|")]
    assert "\n".join(table) == markdown_table()


def test_smoke_passes_the_configured_stack_and_amis_to_the_doctor() -> None:
    ami = "al2-ami-sagemaker-inference-gpu-3-1"
    assert doctor_arguments({"resourcePrefix": "demo", "trainingInferenceAmiVersion": ami}) == [
        "--stack", "demo-service",
        "--training-ami", ami,
        "--hosting-ami", "al2023-ami-sagemaker-inference-gpu-4-1",
    ]  # fmt: skip


def test_generation_quotas_follow_the_hosting_fleet() -> None:
    """Issue 21 M4: unset, an owner gets a quarter of the fleet's GPU-seconds a minute (at least one
    largest request's 20 s) and half its instances in flight (at least 1); set, the key wins."""
    from avatar_contract.names import Env

    default = ServiceConfig.from_context({})
    assert (default.generation_gpu_seconds_per_minute(), default.generations_in_flight()) == (30.0, 1)
    env = default.quota_environment()
    assert (env[Env.QUOTA_GENERATION_GPU_SECONDS_PER_MINUTE], env[Env.QUOTA_GENERATIONS_IN_FLIGHT]) == (
        "30",
        "1",
    )
    assert (env[Env.QUOTA_DRY_RUNS_PER_HOUR], env[Env.QUOTA_REFUSED_TRAININGS_PER_DAY]) == ("30", "10")
    one = ServiceConfig.from_context({"hostingMaxCapacity": 1})
    assert (one.generation_gpu_seconds_per_minute(), one.generations_in_flight()) == (20.0, 1)
    eight = ServiceConfig.from_context({"hostingMaxCapacity": 8})
    assert (eight.generation_gpu_seconds_per_minute(), eight.generations_in_flight()) == (120.0, 4)
    chosen = ServiceConfig.from_context(
        {
            "hostingMaxCapacity": 8,
            "quotaGenerationGpuSecondsPerMinute": "12.5",
            "quotaGenerationsInFlight": "2",
        }
    )
    assert (chosen.generation_gpu_seconds_per_minute(), chosen.generations_in_flight()) == (12.5, 2)
    with pytest.raises(ConfigError, match="quotaGenerationsInFlight"):
        ServiceConfig.from_context({"quotaGenerationsInFlight": 0})
