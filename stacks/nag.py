"""cdk-nag (v3) acknowledgments: every one names its specific finding and says why it is accepted."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one finding (e.g. `AwsSolutions-IAM5[Resource::*]`) on `scope` and its children."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def acknowledge_object_prefixes(scope: IConstruct, bucket_name: str, prefixes: dict[str, str]) -> None:
    """Object ARNs `<bucket>/<prefix>*`: keys are `<prefix><owner>/...` (owner = keyed hash of the caller) or,
    for SageMaker's async outputs, `<prefix><uuid>.out`, so a prefix wildcard is the narrowest resource
    IAM can express for them."""
    for prefix, why in prefixes.items():
        acknowledge(
            scope,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{bucket_name}/{prefix}*]",
            f"Objects under {prefix} only ({why.rstrip('.')}); their keys are made at run time (per owner, "
            "or per invocation by SageMaker), so a prefix wildcard is the narrowest resource IAM can name.",
        )


def acknowledge_encrypted_publish(scope: IConstruct, topics: str) -> None:
    """CDK's SNS publish grant on KMS-encrypted `topics` (e.g. "events topic") adds `kms:GenerateDataKey*`:
    data keys of the messaging key, the action family KMS defines for them."""
    acknowledge(
        scope,
        "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
        f"CDK's SNS publish grant on the KMS-encrypted {topics}: data keys of the messaging key.",
    )
