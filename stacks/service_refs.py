"""What the service stack's constructs share: one frozen bundle instead of the same keyword arguments in
every construct's signature."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_secretsmanager as secretsmanager

from stacks.base_model import StagedBaseModel
from stacks.config import ServiceConfig
from stacks.config_lambda_env import LambdaResources
from stacks.state_table import StateTableRefs
from stacks.status import TrainingStatus
from stacks.storage import StorageRefs


@dataclass(frozen=True)
class ServiceRefs:
    """The configuration, the stateful stack's buckets and table (imported into the service stack), the
    status fan-out, the owner-id key and the staged base model."""

    config: ServiceConfig
    storage: StorageRefs
    state: StateTableRefs
    status: TrainingStatus
    owner_key: secretsmanager.ISecret
    base_model: StagedBaseModel

    def lambda_resources(self, **deployed: str) -> LambdaResources:
        """The buckets and the owner-id key's secret, and what else (`deployed`: endpoints, a topic, a
        queue) a function's environment builder (stacks.config_lambda_env) is told about."""
        return LambdaResources(
            data_bucket=self.storage.data_bucket.bucket_name,
            hosting_bucket=self.storage.hosting_bucket.bucket_name,
            owner_key_secret=self.owner_key.secret_arn,
            **deployed,
        )
