"""The app's log groups: retention from context `logRetentionDays`, encrypted with one KMS key per stack."""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import ServiceConfig

LOGS_KEY_ID = "LogsKey"


def logs_key(scope: Construct) -> kms.Key:
    """The stack's key for CloudWatch Logs (created on first use). Its policy lets the regional Logs
    service use it only for this account's log groups in this region (the encryption context names them)."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child(LOGS_KEY_ID)
    if isinstance(existing, kms.Key):
        return existing
    key = kms.Key(
        stack,
        LOGS_KEY_ID,
        description="Encrypts the avatar service's CloudWatch log groups (API, Lambda, endpoints).",
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.DESTROY,  # the log groups it encrypts are destroyed with the stack
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogsOfThisAccount",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )
    return key


def encrypted_log_group(
    scope: Construct, construct_id: str, config: ServiceConfig, log_group_name: str | None = None
) -> logs.LogGroup:
    """A log group with the configured retention, encrypted with the stack's logs key."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=log_group_name,
        retention=log_retention(config),
        encryption_key=logs_key(scope),
        removal_policy=RemovalPolicy.DESTROY,
    )


def log_retention(config: ServiceConfig) -> logs.RetentionDays:
    """CloudWatch Logs retention from context `logRetentionDays` (validated to an allowed value)."""
    names = {
        1: "ONE_DAY",
        3: "THREE_DAYS",
        5: "FIVE_DAYS",
        7: "ONE_WEEK",
        14: "TWO_WEEKS",
        30: "ONE_MONTH",
        60: "TWO_MONTHS",
        90: "THREE_MONTHS",
        120: "FOUR_MONTHS",
        150: "FIVE_MONTHS",
        180: "SIX_MONTHS",
        365: "ONE_YEAR",
        400: "THIRTEEN_MONTHS",
        545: "EIGHTEEN_MONTHS",
        731: "TWO_YEARS",
        1096: "THREE_YEARS",
        1827: "FIVE_YEARS",
        2192: "SIX_YEARS",
        2557: "SEVEN_YEARS",
        2922: "EIGHT_YEARS",
        3288: "NINE_YEARS",
        3653: "TEN_YEARS",
    }
    return getattr(logs.RetentionDays, names[config.log_retention_days])
