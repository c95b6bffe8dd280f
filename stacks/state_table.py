"""The state table (issue 12 points 4-5): per-owner quota counters and the idempotency records of training
submissions, in one DynamoDB table under distinct key prefixes (`quota#<owner>#...`,
`idempotency#trainings#<hash>`; avatar_contract.names.StateTable).

One table, not two: both are small key-value items with the same lifecycle (TTL), the same key and the
same readers, and IAM still separates them by key prefix (`dynamodb:LeadingKeys`). Its own
customer-managed key, not the data key: the table holds owner ids and training ids, no selfies, and
the data key can then be disabled or scheduled for deletion (crypto-shredding the training data) without
taking quotas and idempotency down with it. Retention follows `removalPolicy`, as for the buckets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Aws
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from avatar_contract import routes
from avatar_contract.names import StateTable as Names
from stacks.config import ServiceConfig
from stacks.keys import service_key
from stacks.storage import removal_policy

# What DynamoDB calls on the caller's behalf for a table with a customer-managed key (only through DynamoDB).
KEY_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
QUOTA_KEYS = "quota#*"
IDEMPOTENCY_KEYS = "idempotency#*"
# Pack jobs' counters (avatar_api.adapters.pack_state) and the idempotency records of pack submissions.
PACK_KEYS = "pack#*"
PACK_IDEMPOTENCY_KEYS = "idempotency#packs#*"


class StateTable(Construct):
    """On-demand, KMS-encrypted (its own key), point-in-time recovery, TTL on `expiration`."""

    def __init__(self, scope: Construct, construct_id: str, *, config: ServiceConfig) -> None:
        super().__init__(scope, construct_id)
        policy = removal_policy(config)
        self.key = service_key(
            self,
            config,
            "state",
            "Encrypts the avatar service's state table (per-owner quotas, idempotency records).",
            removal_policy=policy,
        )
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=config.state_table_name,
            partition_key=dynamodb.Attribute(name=Names.KEY_ATTRIBUTE, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=Names.TTL_ATTRIBUTE,
            removal_policy=policy,
        )


@dataclass(frozen=True)
class StateTableRefs:
    """The service stack's view: the table by its known name (no export), the key by reference."""

    table: dynamodb.ITable
    key: kms.IKey

    @classmethod
    def import_into(cls, scope: Construct, state: StateTable, config: ServiceConfig) -> StateTableRefs:
        table = dynamodb.Table.from_table_attributes(
            scope, "StateTable", table_name=config.state_table_name, encryption_key=state.key
        )
        return cls(table=table, key=state.key)

    def grant_api(self, functions: Mapping[str, iam.IGrantable]) -> None:
        """The API functions (by `avatar_contract.routes` name): trainings takes quotas (windows, slots) and
        runs Powertools Idempotency; reads takes upload slots; models frees a deleted model's idempotency
        key; generations counts its per-minute windows and holds its slot in flight."""
        read_write = ["GetItem", "PutItem", "UpdateItem", "DeleteItem"]
        self.grant(functions[routes.TRAININGS.name], read_write, [QUOTA_KEYS, IDEMPOTENCY_KEYS])
        self.grant(functions[routes.READS.name], ["GetItem", "UpdateItem"], [QUOTA_KEYS])
        self.grant(functions[routes.MODELS.name], ["DeleteItem"], [IDEMPOTENCY_KEYS])
        self.grant(functions[routes.GENERATIONS.name], ["GetItem", "UpdateItem"], [QUOTA_KEYS])

    def grant(self, grantee: iam.IGrantable, actions: list[str], key_prefixes: list[str]) -> None:
        """Exactly `actions` on the table, only on items whose key starts with one of `key_prefixes`, and
        the key's use through DynamoDB (`kms:ViaService`)."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[f"dynamodb:{action}" for action in actions],
                resources=[self.table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": key_prefixes}},
            )
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=KEY_ACTIONS,
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{Aws.REGION}.amazonaws.com"}},
            )
        )
