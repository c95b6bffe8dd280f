"""The stateful stack: KMS keys, buckets, the state table and the owner-id key, whose retention is set
deliberately (`removalPolicy`; the owner-id key is always retained)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import ServiceConfig
from stacks.owner_key import OwnerIdKey
from stacks.state_table import StateTable
from stacks.storage import Storage


class StatefulStack(Stack):
    """Buckets, the state table, the owner-id key and their keys. Deploy once; the service stack can be
    replaced freely on top of it."""

    def __init__(self, scope: Construct, construct_id: str, *, config: ServiceConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.storage = Storage(self, "Storage", config=config)
        self.owner_key = OwnerIdKey(self, "OwnerIdKey", config=config, key=self.storage.data_key)
        CfnOutput(self, "DataBucketName", value=self.storage.data_bucket.bucket_name)
        CfnOutput(self, "HostingBucketName", value=self.storage.hosting_bucket.bucket_name)
        self.state = StateTable(self, "State", config=config)
        CfnOutput(self, "StateTableName", value=self.state.table.table_name)
