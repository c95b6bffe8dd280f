"""Issue 13 on the training service over HTTP with moto's S3: the time budget stops a training, a job
whose caller has gone gives the instance to the next one, objects keep their bucket's KMS key, configs
cannot redirect the writes, and the awkward-image corpus trains with its rejects named."""

from __future__ import annotations

import re
import socket
import time
from dataclasses import replace
from typing import Any

import pytest

from avatar_contract.keys import model_key, preview_prefix, progress_key, staged_prefix
from avatar_contract.progress import TrainingProgress
from avatar_contract.training import TrainingFailure, TrainingResult
from tests.fixtures.image_corpus import CONVERSIONS, MALFORMED_EXIF, OTHER_FORMATS
from tests.fixtures.training_samples import face_photos, tar_bytes, training_config, with_config
from tests.integration.training.conftest import DATA_BUCKET, HOSTING_BUCKET, RunningService, start
from training_service.service import TrainingService
from training_service.settings import Settings
from training_service.storage import S3Store

ATTACKER_BUCKET = "someone-elses-bucket"


def _fast(**overrides: Any) -> dict[str, Any]:
    """A quick training of the tiny model: center crop, no prior preservation."""
    values = {"face_crop": False, "with_prior_preservation": False, "max_train_steps": 2, **overrides}
    return training_config(HOSTING_BUCKET, DATA_BUCKET, **values)


def _no_objects(running: RunningService, *buckets: str) -> None:
    for bucket in buckets:
        assert running.keys(bucket) == [], bucket


def _progress(running: RunningService, config: dict[str, Any]) -> TrainingProgress:
    key = progress_key(config["owner"], config["training_id"])
    body = running.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()
    return TrainingProgress.model_validate_json(body)


@pytest.mark.slow
def test_a_training_over_its_budget_stops_and_publishes_nothing(aws: Any, settings: Settings) -> None:
    for running in start(TrainingService(replace(settings, time_budget_seconds=8), S3Store(aws))):
        config = _fast(max_train_steps=3000)
        started = time.monotonic()
        reply = running.post(tar_bytes(with_config(face_photos(8), config)))
        elapsed = time.monotonic() - started
        assert reply.status == 504, reply.body
        failure = TrainingFailure.model_validate(reply.body)
        match = re.match(r"training exceeded its time budget \((\d+) of 3000 steps\)", failure.reason)
        assert match and 0 < int(match[1]) < 3000, failure.reason
        assert failure.training_id == config["training_id"]
        assert elapsed < 8 + 5  # stopped at the budget, not after 3000 steps
        _no_objects(running, HOSTING_BUCKET)
        assert running.keys(DATA_BUCKET) == [progress_key(config["owner"], config["training_id"])]
        progress = _progress(running, config)  # nothing else: its progress, ended failed
        assert progress.phase == "failed" and 0 < progress.step < 3000
        assert running.get("/ping").body["training"] is False


def _send_without_waiting(url: str, body: bytes) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=30)
    head = f"POST /invocations HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n\r\n"
    connection.sendall(head.encode() + body)
    return connection


@pytest.mark.slow
def test_a_job_whose_caller_has_gone_is_cancelled_and_the_next_one_runs(running: RunningService) -> None:
    abandoned = _fast(max_train_steps=3000)
    connection = _send_without_waiting(running.url, tar_bytes(with_config(face_photos(8), abandoned)))
    deadline = time.monotonic() + 60
    while not running.get("/ping").body["training"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(3)  # into the training loop
    connection.close()  # SageMaker gives up on the invocation

    nxt = _fast()
    reply = running.post(tar_bytes(with_config(face_photos(8), nxt)))
    assert reply.status == 200, reply.body  # not 429: the dead job gave way
    assert TrainingResult.model_validate(reply.body).model_id == nxt["model_id"]
    assert running.keys(HOSTING_BUCKET) == []  # the publisher writes models/* (issue 21 M1)
    staged = staged_prefix(nxt["owner"], nxt["training_id"])
    previews = [
        k for k in running.keys(DATA_BUCKET) if not k.endswith("/progress.json") and not k.startswith(staged)
    ]
    assert previews and all(k.startswith(preview_prefix(nxt["owner"], nxt["training_id"])) for k in previews)
    assert (_progress(running, abandoned).phase, _progress(running, nxt).phase) == ("failed", "completed")


def _kms_buckets(aws: Any) -> dict[str, str]:
    import boto3

    kms = boto3.client("kms", region_name="us-east-1")
    keys = {}
    for bucket in (HOSTING_BUCKET, DATA_BUCKET):
        keys[bucket] = kms.create_key(Description=bucket)["KeyMetadata"]["Arn"]
        aws.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": keys[bucket],
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
    return keys


@pytest.mark.slow
def test_objects_keep_the_bucket_kms_key_and_awkward_images_are_rejected_by_name(
    running: RunningService, aws: Any
) -> None:
    keys = _kms_buckets(aws)
    awkward = {**MALFORMED_EXIF, **OTHER_FORMATS, **{n: CONVERSIONS[n][0] for n in CONVERSIONS}}
    config = _fast(min_usable_images=8)
    reply = running.post(tar_bytes(with_config({**face_photos(4), **awkward}, config)))
    assert reply.status == 200, reply.body
    result = TrainingResult.model_validate(reply.body)
    rejected = result.metrics.rejected_images
    assert sorted(rejected) == sorted([*MALFORMED_EXIF, *OTHER_FORMATS])
    assert all(rejected[name].startswith("malformed EXIF metadata") for name in MALFORMED_EXIF)
    assert result.metrics.usable_images == 4 + len(CONVERSIONS)

    written = {HOSTING_BUCKET: running.keys(HOSTING_BUCKET), DATA_BUCKET: running.keys(DATA_BUCKET)}
    assert written[HOSTING_BUCKET] == []  # the publisher writes models/* (issue 21 M1)
    assert progress_key(config["owner"], config["training_id"]) in written[DATA_BUCKET]  # KMS too
    staged = staged_prefix(config["owner"], config["training_id"])
    assert any(key.startswith(staged) for key in written[DATA_BUCKET])  # the staged model too
    for bucket, objects in written.items():
        for key in objects:
            head = aws.head_object(Bucket=bucket, Key=key)
            assert head["ServerSideEncryption"] == "aws:kms", (bucket, key)
            assert head["SSEKMSKeyId"] == keys[bucket], (bucket, key)


def _hostile(config: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Destinations other than this training's own, built from the config's own ids."""
    owner, training_id, model_id = config["owner"], config["training_id"], config["model_id"]
    return {
        "artifact to another bucket": (
            "model_s3_uri",
            f"s3://{ATTACKER_BUCKET}/{model_key(owner, model_id)}",
        ),
        "previews to another bucket": (
            "preview_s3_prefix",
            f"s3://{ATTACKER_BUCKET}/{preview_prefix(owner, training_id)}",
        ),
        "previews over the hosting bucket's models": (
            "preview_s3_prefix",
            f"s3://{HOSTING_BUCKET}/models/{owner}/",
        ),
        "previews under another owner's training": (
            "preview_s3_prefix",
            f"s3://{DATA_BUCKET}/trainings/{'0' * 32}/{training_id}/previews/",
        ),
    }


@pytest.mark.parametrize("case", list(_hostile(_fast())))
def test_a_config_cannot_redirect_the_writes(running: RunningService, aws: Any, case: str) -> None:
    aws.create_bucket(Bucket=ATTACKER_BUCKET)
    config = _fast()
    field, value = _hostile(config)[case]
    reply = running.post(tar_bytes(with_config(face_photos(8), {**config, field: value})))
    assert reply.status == 400, reply.body
    assert field in TrainingFailure.model_validate(reply.body).reason
    _no_objects(running, HOSTING_BUCKET, DATA_BUCKET, ATTACKER_BUCKET)
