"""The service's customer-managed KMS keys: alias `alias/<prefix>-<purpose>`, automatic yearly rotation."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.config import ServiceConfig


def service_key(
    scope: Construct,
    config: ServiceConfig,
    purpose: str,
    description: str,
    *,
    removal_policy: RemovalPolicy,
    pending_window: Duration | None = None,
) -> kms.Key:
    """The `purpose` key ("data", "hosting", "state", "messaging"): construct `<Purpose>Key` in `scope`, alias
    `alias/<prefix>-<purpose>`."""
    return kms.Key(
        scope,
        f"{purpose.title()}Key",
        alias=f"alias/{config.name(purpose)}",
        description=description,
        enable_key_rotation=True,
        removal_policy=removal_policy,
        pending_window=pending_window,
    )
