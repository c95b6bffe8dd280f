"""The owner-id key (docs/api.md, "Owners"): a per-deployment secret the API's functions HMAC callers'
principals with, so owner ids cannot be computed from a known ARN."""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.config import ServiceConfig
from stacks.nag import acknowledge

OWNER_KEY_CHARS = 64  # letters and digits: about 380 bits


def grant_read_owner_key(role: iam.Role, owner_key_arn: str, data_key: kms.IKey) -> None:
    """Let `role` read the owner-id key: by ARN and without its key (a grant through the stateful stack's
    key would edit that key's policy and make the two stacks depend on each other), plus decrypting with
    the data key through Secrets Manager only."""
    secret = secretsmanager.Secret.from_secret_complete_arn(role, "OwnerIdKey", owner_key_arn)
    secret.grant_read(role)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["kms:Decrypt"],
            resources=[data_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{Aws.REGION}.amazonaws.com"}},
        )
    )


class OwnerIdKey(Construct):
    """A generated Secrets Manager secret, encrypted with the data key and always retained: every stored
    training, model and quota is filed under owner ids made with it, so losing it orphans them all."""

    def __init__(self, scope: Construct, construct_id: str, *, config: ServiceConfig, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description="Avatar service: the key owner ids are derived with (HMAC-SHA256). Never rotate it.",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=OWNER_KEY_CHARS, exclude_punctuation=True, include_space=False
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.secret,
            "AwsSolutions-SMG4",
            "Not rotated by design: owner ids are HMACs under this key, so a new key would re-own every "
            "stored training, model and quota (docs/api.md, Owners). Access is limited to the API functions.",
        )
