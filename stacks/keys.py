"""The service's customer-managed KMS keys: alias `alias/<prefix>-<purpose>`, automatic yearly rotation."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.config import ServiceConfig


def service_key(
    scope: Construct,
    construct_id: str,
    *,
    config: ServiceConfig,
    purpose: str,
    description: str,
    removal_policy: RemovalPolicy,
    pending_window: Duration | None = None,
) -> kms.Key:
    return kms.Key(
        scope,
        construct_id,
        alias=f"alias/{config.name(purpose)}",
        description=description,
        enable_key_rotation=True,
        removal_policy=removal_policy,
        pending_window=pending_window,
    )
