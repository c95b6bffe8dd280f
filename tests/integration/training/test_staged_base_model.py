"""The training container with a base model staged in (moto's) S3: it downloads and verifies the staged
copy, and prior-preservation class images made on one instance are read from S3 by the next one."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image

from avatar_contract.names import Prefix
from avatar_runtime.base_model import Manifest, Source
from base_model_staging import sources, staging
from tests.fixtures.training_samples import face_photos, tar_bytes, training_config, with_config
from tests.integration.training.conftest import DATA_BUCKET, HOSTING_BUCKET, start
from training_service.service import TrainingService
from training_service.settings import Settings
from training_service.storage import S3Store

MARKER = (12, 200, 34)


def _staged(s3: Any, tiny_model_dir: Path) -> tuple[Manifest, str]:
    manifest = sources.record(Source("directory", path=str(tiny_model_dir)), "tiny-sd")
    fetch = lambda paths: sources.fetch(manifest, paths)  # noqa: E731
    return manifest, staging.stage(manifest, DATA_BUCKET, s3, fetch, progress=False).uri


def _encrypt_with_kms(s3: Any) -> None:
    """The data bucket as the storage stack makes it: KMS default encryption."""
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}
    s3.put_bucket_encryption(Bucket=DATA_BUCKET, ServerSideEncryptionConfiguration={"Rules": [rule]})


def _class_objects(s3: Any) -> dict[str, Any]:
    listing = s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix=Prefix.CLASS_IMAGES).get("Contents", [])
    return {o["Key"]: o["LastModified"] for o in listing}


def _train(s3: Any, settings: Settings) -> dict[str, Any]:
    config = training_config(HOSTING_BUCKET, DATA_BUCKET, num_class_images=2, max_train_steps=2)
    for running in start(TrainingService(settings, S3Store(s3))):
        reply = running.post(tar_bytes(with_config(face_photos(8), config)))
        assert reply.status == 200, reply.body
        return reply.body
    raise AssertionError("the service did not start")


@pytest.mark.slow
def test_second_instance_reads_the_class_images_from_s3(
    aws: Any, settings: Settings, tiny_model_dir: Path, tmp_path: Path
) -> None:
    _encrypt_with_kms(aws)
    manifest, uri = _staged(aws, tiny_model_dir)
    first = replace(settings, base_model=uri, cache_dir=tmp_path / "instance-1")
    _train(aws, first)
    assert (tmp_path / "instance-1" / "base-models" / manifest.digest / ".verified").is_file()
    cached = _class_objects(aws)
    [index] = [k for k in cached if k.endswith("/index.json")]
    prefix = index.removesuffix("index.json")
    assert sorted(cached) == sorted([index, f"{prefix}0000.png", f"{prefix}0001.png"])
    assert aws.head_object(Bucket=DATA_BUCKET, Key=f"{prefix}0000.png")["ServerSideEncryption"] == "aws:kms"

    # Mark the cached set, so images that come from S3 can be told from freshly generated ones.
    for key in (f"{prefix}0000.png", f"{prefix}0001.png"):
        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), MARKER).save(buffer, format="PNG")
        aws.put_object(Bucket=DATA_BUCKET, Key=key, Body=buffer.getvalue())
    marked = _class_objects(aws)

    second = replace(settings, base_model=uri, cache_dir=tmp_path / "instance-2")  # scaled up from zero
    _train(aws, second)
    assert _class_objects(aws) == marked  # read, not regenerated and uploaded again
    local = sorted((tmp_path / "instance-2" / "class-images").glob("*/*.png"))
    assert len(local) == 2
    assert all(Image.open(path).convert("RGB").getpixel((5, 5)) == MARKER for path in local)


def test_a_tampered_staged_model_fails_the_training_naming_the_file_in_the_log(
    aws: Any, settings: Settings, tiny_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The caller learns the step; the file and the checksums go to the container's log (issue 21 L7)."""
    manifest, uri = _staged(aws, tiny_model_dir)
    aws.put_object(Bucket=DATA_BUCKET, Key=manifest.prefix + "unet/config.json", Body=b"{}")
    broken = replace(settings, base_model=uri, cache_dir=tmp_path / "instance")
    config = training_config(HOSTING_BUCKET, DATA_BUCKET)
    for running in start(TrainingService(broken, S3Store(aws))):
        reply = running.post(tar_bytes(with_config(face_photos(8), config)))
        assert reply.status == 500
        assert reply.body["reason"] == "could not load the base model"
    assert "unet/config.json: 2 bytes, the manifest says" in caplog.text
