"""A tiny pipeline recorded into a manifest, moto's S3 with a KMS-encrypted data bucket, and a Hugging
Face cache that holds the tiny pipeline as a pinned snapshot (so huggingface_hub's own code serves it)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from avatar_runtime.base_model import Manifest, Source
from base_model_staging import sources
from tests.fixtures.moto_aws import mocked_aws

BUCKET = "avatar-data-123456789012-us-east-1"
REPO_ID = "test-org/tiny-sd"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_aws(monkeypatch):
        client = boto3.client("s3", region_name="us-east-1")
        key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_encryption(
            Bucket=BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}
                ]
            },
        )
        yield client


@pytest.fixture
def source_dir(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny pipeline (tests may tamper with it)."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "source"))


@pytest.fixture
def manifest(source_dir: Path) -> Manifest:
    return sources.record(Source("directory", path=str(source_dir)), "tiny-sd")


@pytest.fixture
def hf_cache(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A Hugging Face hub cache with `REPO_ID` at `COMMIT` (the layout huggingface_hub writes)."""
    cache = tmp_path / "hf-cache"
    repo = cache / f"models--{REPO_ID.replace('/', '--')}"
    shutil.copytree(tiny_model_dir, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return cache
