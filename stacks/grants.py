"""Least-privilege S3 grants by key prefix.

CDK's `bucket.grant_read/put/delete` hand out action wildcards (`s3:GetObject*`, `s3:List*`, ...) and an
unconditional bucket listing. These grants name exact actions, limit ListBucket to the same prefixes with
an `s3:prefix` condition (so a function never even sees another area's key names), and give the
bucket's KMS key only what SSE-KMS reads/writes need.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3


def grant_objects(
    grantee: iam.IGrantable,
    bucket: s3.IBucket,
    key: kms.IKey,
    prefixes: Iterable[str],
    *,
    read: bool = False,
    write: bool = False,
    delete: bool = False,
) -> None:
    """Grant `read` (GetObject + prefix-limited ListBucket), `write` (PutObject with tagging, abort
    multipart) and/or `delete` (DeleteObject) on `<bucket>/<prefix>*` for each prefix."""
    prefixes = list(prefixes)
    objects = [bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes]
    actions: list[str] = []
    if read:
        actions.append("s3:GetObject")
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:ListBucket"],
            resource_arns=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
        )
    if write:
        actions += ["s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload"]
    if delete:
        actions.append("s3:DeleteObject")
    iam.Grant.add_to_principal(grantee=grantee, actions=actions, resource_arns=objects)

    key_actions: list[str] = []
    if read or write:
        key_actions.append("kms:Decrypt")  # reads, and multipart writes (parts are decrypted to assemble)
    if write:
        key_actions.append("kms:GenerateDataKey")
    if key_actions:
        key.grant(grantee, *key_actions)
