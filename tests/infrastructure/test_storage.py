"""Point 3: the data and hosting buckets (KMS, TLS-only, no public access, access logs, lifecycle)."""

from __future__ import annotations

from typing import Any

from avatar_contract.lifecycle import TRAINING_INPUT_TAG_KEY, TRAINING_INPUT_TAG_VALUE
from tests.infrastructure.helpers import of_type, text


def _buckets(storage: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in of_type(storage, "AWS::S3::Bucket").items()}


def _bucket(storage: dict[str, Any], prefix: str) -> dict[str, Any]:
    [props] = [p for k, p in _buckets(storage).items() if k.startswith(prefix)]
    return props


def test_data_and_hosting_buckets_use_their_own_kms_keys(storage: dict[str, Any]) -> None:
    keys = of_type(storage, "AWS::KMS::Key")
    assert len(keys) == 3  # data, hosting, and the state table's (tests/infrastructure/test_state_table.py)
    assert all(key["Properties"]["EnableKeyRotation"] for key in keys.values())
    for prefix, key_prefix in (
        ("StorageDataBucket", "StorageDataKey"),
        ("StorageHostingBucket", "StorageHostingKey"),
    ):
        encryption = _bucket(storage, prefix)["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert key_prefix in text(encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"])
        assert encryption["BucketKeyEnabled"] is True


def test_every_bucket_blocks_public_access_and_requires_tls(storage: dict[str, Any]) -> None:
    buckets = _buckets(storage)
    assert len(buckets) == 3
    for props in buckets.values():
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
    policies = of_type(storage, "AWS::S3::BucketPolicy")
    assert len(policies) == 3
    for policy in policies.values():
        deny_tls = [
            s
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert deny_tls


def test_server_access_logs(storage: dict[str, Any]) -> None:
    for prefix in ("StorageDataBucket", "StorageHostingBucket"):
        logging = _bucket(storage, prefix)["LoggingConfiguration"]
        assert "StorageAccessLogs" in text(logging["DestinationBucketName"])


def test_training_inputs_and_uploads_expire_after_the_retention(storage: dict[str, Any]) -> None:
    rules = {
        rule["Id"]: rule for rule in _bucket(storage, "StorageDataBucket")["LifecycleConfiguration"]["Rules"]
    }
    inputs = rules["expire-training-inputs"]
    assert inputs["ExpirationInDays"] == 7
    assert inputs["Prefix"] == "trainings/"
    assert inputs["TagFilters"] == [{"Key": TRAINING_INPUT_TAG_KEY, "Value": TRAINING_INPUT_TAG_VALUE}]
    assert rules["expire-uploads"]["ExpirationInDays"] == 7
    assert rules["expire-uploads"]["Prefix"] == "uploads/"
    assert rules["expire-generated-images"] == {
        "ExpirationInDays": 1,
        "Id": "expire-generated-images",
        "Prefix": "generations/",
        "Status": "Enabled",
    }


def test_stateful_resources_are_retained_by_default(storage: dict[str, Any]) -> None:
    for resource in list(of_type(storage, "AWS::S3::Bucket").values()) + list(
        of_type(storage, "AWS::KMS::Key").values()
    ):
        assert resource["DeletionPolicy"] == "Retain"
        assert resource["UpdateReplacePolicy"] == "Retain"


def test_bucket_names_are_unique_per_account_and_region(storage: dict[str, Any]) -> None:
    name = text(_bucket(storage, "StorageDataBucket")["BucketName"])
    assert "avatar-data-" in name and "AWS::AccountId" in name and "AWS::Region" in name
