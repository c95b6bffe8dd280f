"""AWS service principals bound to this account (confused-deputy prevention, docs/deploy.md).

Every statement that lets an AWS service act — a role's trust, a KMS key policy — carries
`aws:SourceAccount` (this account) and, where the service reports one, an `aws:SourceArn` pattern of
this account's resources, so the service cannot be talked into using the role or key on behalf of
another account's resource. `tests/infrastructure/test_service_principals.py` checks every such statement
of both stacks. The one exception is the CloudWatch Logs key statement (stacks/log_groups.py): it is bound
instead by the encryption context `kms:EncryptionContext:aws:logs:arn` to this account's log groups in this
region, the condition the Logs documentation gives.
"""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import ArnFormat, Aspects, Aws, IAspect, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct, IConstruct

SOURCE_ACCOUNT = "aws:SourceAccount"
SOURCE_ARN = "aws:SourceArn"


def source_conditions(scope: Construct, service: str, resource: str | None = None) -> dict[str, Any]:
    """`aws:SourceAccount` = this account and, with `resource`, `aws:SourceArn` like
    `arn:<partition>:<service>:<region>:<account>:<resource>`."""
    conditions: dict[str, Any] = {"StringEquals": {SOURCE_ACCOUNT: Aws.ACCOUNT_ID}}
    if resource is not None:
        arn = Stack.of(scope).format_arn(
            service=service, resource=resource, arn_format=ArnFormat.NO_RESOURCE_NAME
        )
        conditions["ArnLike"] = {SOURCE_ARN: arn}
    return conditions


def trusted_service(
    scope: Construct, principal: str, service: str, resource: str | None = None
) -> iam.IPrincipal:
    """`principal` (e.g. `sagemaker.amazonaws.com`) acting only for this account (`source_conditions`)."""
    return iam.ServicePrincipal(principal).with_conditions(source_conditions(scope, service, resource))


def bind_trust(role: iam.IRole, service: str, resource: str | None = None) -> None:
    """Add `source_conditions` to the trust of a role CDK created for us (its one statement)."""
    cfn = role.node.default_child
    assert isinstance(cfn, iam.CfnRole), f"{role.node.path} is not a role created in this app"
    cfn.add_property_override(
        "AssumeRolePolicyDocument.Statement.0.Condition", source_conditions(cfn, service, resource)
    )


@jsii.implements(IAspect)
class _BindKeyStatements:
    """Adds `source_conditions` to a key policy's unconditioned statements for one service principal
    (those CDK writes itself, e.g. the SQS subscription's `sns.amazonaws.com` statement)."""

    def __init__(self, principal: str, service: str, resource: str | None) -> None:
        self._principal, self._service, self._resource = principal, service, resource

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, kms.CfnKey):
            return
        policy = Stack.of(node).resolve(node.key_policy)
        for statement in policy.get("Statement", []):
            principal = statement.get("Principal")
            if (
                isinstance(principal, dict)
                and principal.get("Service") == self._principal
                and statement.get("Effect") == "Allow"
                and not statement.get("Condition")
            ):
                statement["Condition"] = source_conditions(node, self._service, self._resource)
        node.key_policy = Stack.of(node).resolve(policy)


def bind_key_statements(key: kms.Key, principal: str, service: str, resource: str | None = None) -> None:
    """Every unconditioned Allow for `principal` in `key`'s policy gets `source_conditions` at synth."""
    Aspects.of(key).add(_BindKeyStatements(principal, service, resource))
