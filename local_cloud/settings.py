"""Names and settings of the local cloud's resources, taken from the CDK app's own configuration.

`stacks.config.ServiceConfig` (read from cdk.json's context) is the one source for physical names and
settings; this module only maps it onto the few values the local cloud needs and copies no default, so
the two cannot drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avatar_contract.names import Prefix, Runtime
from stacks.config import API_STAGE_NAME, FUNCTION_TIMEOUT_SECONDS, ServiceConfig
from stacks.gpu_runtime import STARTUP_TIMEOUT_SECONDS

ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"
CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


@dataclass(frozen=True)
class CloudSettings:
    """What the local cloud provisions and how it behaves, named exactly as the deployed stacks."""

    region: str
    stage: str
    data_bucket: str
    hosting_bucket: str
    state_table: str
    success_topic: str
    error_topic: str
    status_queue: str
    events_topic: str  # the training events topic and the status consumer (stacks/training_events.py)
    status_events_queue: str
    status_events_dead_letter_queue: str
    status_events_function: str
    owner_key_secret: str
    raw_message_delivery: bool
    training_endpoint: str
    training_endpoint_config: str
    training_model: str
    hosting_endpoint: str
    hosting_endpoint_config: str
    hosting_model: str
    variant_name: str
    training_instance_type: str
    hosting_instance_type: str
    config: ServiceConfig
    max_concurrent_invocations_per_instance: int = Runtime.ASYNC_MAX_CONCURRENT_INVOCATIONS_PER_INSTANCE
    async_output_prefix: str = Prefix.ASYNC_OUTPUTS
    async_failure_prefix: str = Prefix.ASYNC_FAILURES
    models_prefix: str = Prefix.MODELS
    lambda_timeout_seconds: int = FUNCTION_TIMEOUT_SECONDS
    lambda_environment: tuple[tuple[str, str], ...] = ()

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


def load_settings(region: str = DEFAULT_REGION, context: dict[str, Any] | None = None) -> CloudSettings:
    """Settings from the CDK app's `ServiceConfig` built from cdk.json's context (or `context`)."""
    if context is None:
        context = json.loads(CDK_JSON.read_text()).get("context", {})
    return _from_names(ServiceConfig.from_context(context), region)


def _from_names(config: ServiceConfig, region: str) -> CloudSettings:
    return CloudSettings(
        region=region,
        stage=API_STAGE_NAME,
        data_bucket=config.data_bucket_name,
        hosting_bucket=config.hosting_bucket_name,
        state_table=config.state_table_name,
        success_topic=config.training_success_topic_name,
        error_topic=config.training_error_topic_name,
        status_queue=config.status_queue_name,
        events_topic=config.training_events_topic_name,
        status_events_queue=config.status_events_queue_name,
        status_events_dead_letter_queue=config.status_events_dead_letter_queue_name,
        status_events_function=config.status_events_function_name,
        owner_key_secret=config.name("owner-key"),
        raw_message_delivery=True,  # as the CDK app subscribes the queue (body = SageMaker's JSON)
        training_endpoint=config.training_endpoint_name,
        training_endpoint_config=config.name("training-config"),
        training_model=config.name("training-model"),
        hosting_endpoint=config.hosting_endpoint_name,
        hosting_endpoint_config=config.name("hosting-config"),
        hosting_model=config.name("hosting-model"),
        variant_name=config.variant_name,
        training_instance_type=config.training_instance_type,
        hosting_instance_type=config.hosting_instance_type,
        config=config,
    )
