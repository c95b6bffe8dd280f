"""Names and settings of the local cloud's resources, taken from the CDK app's own configuration.

`stacks.config.ServiceConfig` (read from cdk.json's context) is the one source for physical names and
settings: each name below reads the `ServiceConfig` attribute the stacks name the resource with
(stacks/config_names.py), so the two cannot drift; no name or default is copied here.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avatar_contract.names import Prefix, Runtime
from stacks.config import API_STAGE_NAME, FUNCTION_TIMEOUT_SECONDS, ServiceConfig
from stacks.gpu_runtime import STARTUP_TIMEOUT_SECONDS

ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"
CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


class _Config:
    """A read-only name of `CloudSettings`: `read(settings.config)`, the `ServiceConfig` name the stacks
    use, or `<prefix>-<suffix>` (`ServiceConfig.name`) for what CloudFormation names on AWS."""

    def __init__(self, read: Callable[[ServiceConfig], str]) -> None:
        self.read = read

    def __get__(self, settings: CloudSettings, owner: type | None = None) -> str:
        return self.read(settings.config)


@dataclass(frozen=True)
class CloudSettings:
    """What the local cloud provisions and how it behaves, named exactly as the deployed stacks."""

    region: str
    config: ServiceConfig
    stage: str = API_STAGE_NAME
    raw_message_delivery: bool = True  # as the CDK app subscribes the queue (body = SageMaker's JSON)
    max_concurrent_invocations_per_instance: int = Runtime.ASYNC_MAX_CONCURRENT_INVOCATIONS_PER_INSTANCE
    async_output_prefix: str = Prefix.ASYNC_OUTPUTS
    async_failure_prefix: str = Prefix.ASYNC_FAILURES
    models_prefix: str = Prefix.MODELS
    lambda_timeout_seconds: int = FUNCTION_TIMEOUT_SECONDS

    data_bucket = _Config(lambda c: c.data_bucket_name)
    hosting_bucket = _Config(lambda c: c.hosting_bucket_name)
    state_table = _Config(lambda c: c.state_table_name)
    success_topic = _Config(lambda c: c.training_success_topic_name)
    error_topic = _Config(lambda c: c.training_error_topic_name)
    status_queue = _Config(lambda c: c.status_queue_name)
    events_topic = _Config(lambda c: c.training_events_topic_name)  # stacks/training_events.py
    status_events_queue = _Config(lambda c: c.status_events_queue_name)
    status_events_dead_letter_queue = _Config(lambda c: c.status_events_dead_letter_queue_name)
    status_events_function = _Config(lambda c: c.status_events_function_name)
    training_endpoint = _Config(lambda c: c.training_endpoint_name)
    hosting_endpoint = _Config(lambda c: c.hosting_endpoint_name)
    variant_name = _Config(lambda c: c.variant_name)
    training_instance_type = _Config(lambda c: c.training_instance_type)
    hosting_instance_type = _Config(lambda c: c.hosting_instance_type)
    owner_key_secret = _Config(lambda c: c.name("owner-key"))
    training_endpoint_config = _Config(lambda c: c.name("training-config"))
    training_model = _Config(lambda c: c.name("training-model"))
    hosting_endpoint_config = _Config(lambda c: c.name("hosting-config"))
    hosting_model = _Config(lambda c: c.name("hosting-model"))

    def function_name(self, function: str) -> str:
        """Physical Lambda function name (`ServiceConfig.function_name`)."""
        return self.config.function_name(function)

    def variant_runtime(self, role: str) -> dict[str, Any]:
        """The production variant's GPU runtime as the stacks declare it (stacks.gpu_runtime)."""
        ami = {
            "training": self.config.training_inference_ami_version,
            "hosting": self.config.hosting_inference_ami_version,
        }[role]
        return {
            "InferenceAmiVersion": ami,
            "ContainerStartupHealthCheckTimeoutInSeconds": STARTUP_TIMEOUT_SECONDS,
        }

    @property
    def async_output_path(self) -> str:
        return f"s3://{self.data_bucket}/{self.async_output_prefix.rstrip('/')}"

    @property
    def async_failure_path(self) -> str:
        return f"s3://{self.data_bucket}/{self.async_failure_prefix.rstrip('/')}"

    @property
    def model_data_url(self) -> str:
        return f"s3://{self.hosting_bucket}/{self.models_prefix}"


def load_settings(
    region: str = DEFAULT_REGION,
    context: dict[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> CloudSettings:
    """Settings from the CDK app's `ServiceConfig` built from cdk.json's context (or `context`), with
    `overrides` applied as `cdk -c key=value` would (e.g. {"baseModel": "sdxl-base-1.0"})."""
    if context is None:
        context = json.loads(CDK_JSON.read_text()).get("context", {})
    return CloudSettings(region, ServiceConfig.from_context({**context, **(overrides or {})}))


def add_context_argument(parser: argparse.ArgumentParser) -> None:
    """`-c key=value` (repeatable), as `cdk synth -c` takes it: a cdk.json context value for this run."""
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a cdk.json context value, as cdk -c does (e.g. -c baseModel=sdxl-base-1.0)",
    )


def context_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    """The `-c` pairs as a dict, checked against the CDK app's configuration (a bad key or value is a
    usage error naming it, before anything starts)."""
    overrides: dict[str, str] = {}
    for pair in args.context:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            parser.error(f"-c takes key=value (e.g. baseModel=sdxl-base-1.0), not {pair!r}")
        overrides[key] = value
    try:
        load_settings(overrides=overrides)
    except (ValueError, TypeError) as exc:
        parser.error(f"-c {' '.join(args.context)}: {exc}")
    return overrides
