"""cdk-nag (v3) acknowledgments: every one names its specific finding and says why it is accepted."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one finding (e.g. `AwsSolutions-IAM5[Resource::*]`) on `scope` and its children."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


# The action wildcards of CDK's own S3/KMS grant helpers (grant_read, grant_put, grant_delete, ...).
_GRANT_ACTIONS = {
    "s3:GetObject*": "CDK's S3 read grant (GetObject, versions, tags) on the listed prefixes only.",
    "s3:GetBucket*": "CDK's S3 read grant: bucket metadata (location, encryption) of this app's own bucket.",
    "s3:List*": "CDK's S3 read grant: list this app's own bucket (a missing key answers 404, not 403).",
    "s3:DeleteObject*": "Erase objects (and versions) on the listed prefixes only.",
    "s3:Abort*": "CDK's S3 write grant: abort this role's own multipart uploads on the listed prefixes.",
    "kms:GenerateDataKey*": "SSE-KMS writes need data keys of the bucket's own customer-managed key.",
    "kms:ReEncrypt*": "CDK's KMS encrypt grant on the bucket's own customer-managed key.",
}


def acknowledge_grant_actions(scope: IConstruct, actions: list[str]) -> None:
    for action in actions:
        acknowledge(scope, f"AwsSolutions-IAM5[Action::{action}]", _GRANT_ACTIONS[action])


def acknowledge_object_prefixes(scope: IConstruct, bucket_name: str, prefixes: dict[str, str]) -> None:
    """Object ARNs `<bucket>/<prefix>*`: per-user keys are `<prefix><owner>/...` (owner = hash of the
    caller), so a prefix wildcard is the narrowest resource IAM can express for them."""
    for prefix, why in prefixes.items():
        acknowledge(
            scope,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{bucket_name}/{prefix}*]",
            f"Objects under {prefix} only: {why}",
        )
