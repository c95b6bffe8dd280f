"""The stateful stack: KMS keys, buckets and the owner-id key, whose retention is set deliberately."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import ServiceConfig
from stacks.owner_key import OwnerIdKey
from stacks.storage import Storage


class StatefulStack(Stack):
    """Buckets, their keys and the owner-id key. Deploy once; the service stack can be replaced freely."""

    def __init__(self, scope: Construct, construct_id: str, *, config: ServiceConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.storage = Storage(self, "Storage", config=config)
        self.owner_key = OwnerIdKey(self, "OwnerIdKey", config=config, key=self.storage.data_key)
        CfnOutput(self, "DataBucketName", value=self.storage.data_bucket.bucket_name)
        CfnOutput(self, "HostingBucketName", value=self.storage.hosting_bucket.bucket_name)
