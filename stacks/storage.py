"""Storage (issue point 3): the training-data bucket, the model hosting bucket, their KMS keys and the
server-access-log bucket. Everything here is stateful; its removal policy comes from `removalPolicy`."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from avatar_contract.keys import GENERATIONS_PREFIX
from avatar_contract.lifecycle import TRAINING_INPUT_TAG_KEY, TRAINING_INPUT_TAG_VALUE
from avatar_contract.names import Prefix
from stacks.config import ServiceConfig
from stacks.keys import service_key
from stacks.nag import acknowledge


def bucket_name(config: ServiceConfig, kind: str) -> str:
    """`<prefix>-<kind>-<account>-<region>`: unique per account and region, and known to every stack
    without a cross-stack export (so IAM policies stay readable and the stateful stack never pins an
    export the service stack imports). The local cloud uses `config.data_bucket_name` etc. instead."""
    return f"{config.name(kind)}-{Aws.ACCOUNT_ID}-{Aws.REGION}"


def nag_bucket_name(config: ServiceConfig, kind: str) -> str:
    """How cdk-nag prints `bucket_name(config, kind)` in findings."""
    return f"{config.name(kind)}-<AWS::AccountId>-<AWS::Region>"


def publisher_role_arn(config: ServiceConfig) -> str:
    """The model publisher's role (stacks.publisher, fixed name): known to this stack's bucket policy
    without a cross-stack export."""
    return f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/{config.model_publisher_role_name}"


def removal_policy(config: ServiceConfig) -> RemovalPolicy:
    return RemovalPolicy.DESTROY if config.removal_policy == "destroy" else RemovalPolicy.RETAIN


class Storage(Construct):
    """Data bucket (selfies, training records, async outputs), hosting bucket (`models/` = the
    multi-model endpoint's ModelDataUrl), one customer-managed key each, and the access-log bucket."""

    def __init__(self, scope: Construct, construct_id: str, *, config: ServiceConfig) -> None:
        super().__init__(scope, construct_id)
        policy = removal_policy(config)
        destroy = policy == RemovalPolicy.DESTROY

        self.data_key = service_key(
            self,
            config,
            "data",
            "Encrypts the avatar service's training data (selfies, records, async outputs).",
            removal_policy=policy,
        )
        self.hosting_key = service_key(
            self,
            config,
            "hosting",
            "Encrypts the avatar service's trained model artifacts.",
            removal_policy=policy,
        )

        # Server access logs cannot be delivered to SSE-KMS buckets, so this one uses SSE-S3.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-logs", expiration=Duration.days(365))],
            removal_policy=policy,
            auto_delete_objects=destroy,
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This is the server-access-log target bucket; logging it into itself would loop.",
        )

        retention = Duration.days(config.training_input_retention_days)
        self.data_bucket = self._encrypted_bucket(
            "DataBucket",
            config,
            "data",
            self.data_key,
            [
                # Selfies are biometric personal data: inputs expire, records and previews stay until
                # the model is deleted through the API.
                s3.LifecycleRule(
                    id="expire-training-inputs",
                    prefix=Prefix.TRAININGS,
                    tag_filters={TRAINING_INPUT_TAG_KEY: TRAINING_INPUT_TAG_VALUE},
                    expiration=retention,
                ),
                s3.LifecycleRule(id="expire-uploads", prefix=Prefix.UPLOADS, expiration=retention),
                # Generated images too large to return inline are stored and handed out as presigned
                # URLs valid for an hour; a day later nobody can fetch them, so they go.
                s3.LifecycleRule(
                    id="expire-generated-images", prefix=GENERATIONS_PREFIX, expiration=Duration.days(1)
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)
                ),
            ],
        )
        self.hosting_bucket = self._encrypted_bucket(
            "HostingBucket",
            config,
            "hosting",
            self.hosting_key,
            [
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)
                )
            ],
        )
        # Issue 21 M1: the model publisher (stacks.publisher) is the only writer of models/*, whatever
        # any identity policy in the account allows; its role's name is fixed, so no cross-stack export.
        self.hosting_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyTheModelPublisherWritesModels",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[self.hosting_bucket.arn_for_objects(f"{Prefix.MODELS}*")],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": publisher_role_arn(config)}},
            )
        )

    def _encrypted_bucket(
        self,
        construct_id: str,
        config: ServiceConfig,
        kind: str,
        key: kms.IKey,
        lifecycle_rules: list[s3.LifecycleRule],
    ) -> s3.Bucket:
        """`bucket_name(config, kind)`, encrypted with `key` (S3 Bucket Keys on), TLS only, private,
        owner-enforced, logged into the access-log bucket under `<kind>/`."""
        policy = removal_policy(config)
        return s3.Bucket(
            self,
            construct_id,
            bucket_name=bucket_name(config, kind),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{kind}/",
            lifecycle_rules=lifecycle_rules,
            removal_policy=policy,
            auto_delete_objects=policy == RemovalPolicy.DESTROY,
        )


@dataclass(frozen=True)
class StorageRefs:
    """The service stack's view of the storage: buckets by their known names, keys by reference."""

    data_bucket: s3.IBucket
    hosting_bucket: s3.IBucket
    data_key: kms.IKey
    hosting_key: kms.IKey

    @classmethod
    def import_into(cls, scope: Construct, storage: Storage, config: ServiceConfig) -> StorageRefs:
        return cls(
            data_bucket=s3.Bucket.from_bucket_attributes(
                scope, "DataBucket", bucket_name=bucket_name(config, "data"), encryption_key=storage.data_key
            ),
            hosting_bucket=s3.Bucket.from_bucket_attributes(
                scope,
                "HostingBucket",
                bucket_name=bucket_name(config, "hosting"),
                encryption_key=storage.hosting_key,
            ),
            data_key=storage.data_key,
            hosting_key=storage.hosting_key,
        )

    @property
    def model_data_url(self) -> str:
        """`s3://<hosting bucket>/models/`: the multi-model endpoint's ModelDataUrl."""
        return self.hosting_bucket.s3_url_for_object(Prefix.MODELS)
