"""S3 access, behind a small class the service receives (tests and the local cloud pass their own client).

boto3 reads `AWS_ENDPOINT_URL` itself, so the local cloud needs no endpoint here. Standard retry mode
retries throttling and transient errors with backoff (the reference retried its upload by hand).

Uploads name no `ServerSideEncryption`: every object takes its bucket's default encryption, which the CDK
app sets to the bucket's own KMS key (stacks/storage.py), so adapters and previews stay under that key's
policy and are shredded with it. An explicit `AES256` would override the bucket key (docs/limits-training.md).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

logger = logging.getLogger(__name__)

RETRY_CONFIG = Config(retries={"max_attempts": 8, "mode": "standard"}, connect_timeout=10, read_timeout=120)


class S3Store:
    """Upload and delete operations on S3."""

    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("s3", config=RETRY_CONFIG)
        return self._client

    def upload_file(self, path: Path, bucket: str, key: str, content_type: str) -> None:
        self.client.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})

    def put_bytes(self, data: bytes, bucket: str, key: str, content_type: str) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    def delete(self, bucket: str, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
