"""The model publisher (issue 21 M1, docs/hosting.md): the only writer of the hosting bucket's `models/*`.

A Lambda function on its own SQS queue (KMS, DLQ), subscribed with raw delivery to SageMaker's success
topic. For each finished training it checks what the training container staged (the adapter's safetensors
header, the metadata's schema; `avatar_contract.publishing`), rebuilds the archive from the template in its
own code asset and writes `models/<owner>/<model_id>.tar.gz`, then its verdict next to the training, and
forwards the notification to the status consumer's queue: the training event follows the verdict (a
training is completed only once its model is published) without the consumer waiting on a retry.

Why the status path and not an S3 event: the success notification already proves which training finished
and the publisher checks it against the training's record (as the status consumer does); the data bucket
lives in the stateful stack, so an S3 notification to this stack's function would tie the two stacks in a
cycle; SQS gives retries and a dead-letter queue; the local cloud runs the same queue and function.

Its role has a fixed name (`config.model_publisher_role_name`): the hosting bucket's policy
(stacks.storage) denies `s3:PutObject` on `models/*` to every other principal.
"""

from __future__ import annotations

from aws_cdk import Duration, Size
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from avatar_contract.names import Env, Prefix
from stacks.config import POWERTOOLS_ENVIRONMENT, ServiceConfig
from stacks.config_constants import (
    PUBLISHER_HANDLER,
    PUBLISHER_MAX_CONCURRENCY,
    PUBLISHER_TIMEOUT_SECONDS,
    PUBLISHER_VISIBILITY_TIMEOUT_SECONDS,
    STATUS_EVENTS_MAX_RECEIVE_COUNT,
)
from stacks.grants import grant_objects
from stacks.lambda_code import RUNTIME, api_code
from stacks.log_groups import encrypted_log_group
from stacks.nag import acknowledge, acknowledge_object_prefixes
from stacks.service_principals import trusted_service
from stacks.status import TrainingStatus
from stacks.storage import StorageRefs, nag_bucket_name

# Per training, below its own prefix: the staged adapter and metadata (read, then deleted), the verdict.
STAGED = f"{Prefix.TRAININGS}*/*/staged/"
VERDICT = f"{Prefix.TRAININGS}*/*/publication.json"


class ModelPublisher(Construct):
    """Queue + DLQ on the success topic, the publisher function and its fixed-name role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ServiceConfig,
        storage: StorageRefs,
        status: TrainingStatus,
        events_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        key = status.key
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=config.model_publisher_dead_letter_queue_name,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=config.model_publisher_queue_name,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            data_key_reuse=Duration.hours(1),
            enforce_ssl=True,
            retention_period=Duration.days(14),
            visibility_timeout=Duration.seconds(PUBLISHER_VISIBILITY_TIMEOUT_SECONDS),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=STATUS_EVENTS_MAX_RECEIVE_COUNT
            ),
        )
        status.success_topic.add_subscription(
            subscriptions.SqsSubscription(self.queue, raw_message_delivery=True)
        )

        name = config.model_publisher_function_name
        log_group = encrypted_log_group(self, "Logs", config, log_group_name=f"/aws/lambda/{name}")
        self.role = iam.Role(
            self,
            "Role",
            role_name=config.model_publisher_role_name,
            assumed_by=trusted_service(self, "lambda.amazonaws.com", "lambda"),
            description=f"Avatar service model publisher {name}: the only writer of models/*",
        )
        log_group.grant_write(self.role)
        architecture = (
            lambda_.Architecture.ARM_64
            if config.lambda_architecture == "arm64"
            else lambda_.Architecture.X86_64
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=name,
            role=self.role,
            description="Avatar service: a finished training's staged model checked and published to models/",
            runtime=RUNTIME,
            architecture=architecture,
            handler=PUBLISHER_HANDLER,
            code=api_code(architecture),
            environment={
                Env.DATA_BUCKET: storage.data_bucket.bucket_name,
                Env.HOSTING_BUCKET: storage.hosting_bucket.bucket_name,
                # The status consumer's queue: each notification goes on there after the verdict.
                Env.STATUS_EVENTS_QUEUE_URL: events_queue.queue_url,
                **POWERTOOLS_ENVIRONMENT,
            },
            memory_size=1024,
            # The adapter and the archive built from it (each at most publishing.MAX_ADAPTER_BYTES).
            ephemeral_storage_size=Size.mebibytes(2048),
            timeout=Duration.seconds(PUBLISHER_TIMEOUT_SECONDS),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
        )
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=1,
                max_concurrency=PUBLISHER_MAX_CONCURRENCY,
                report_batch_item_failures=True,
            )
        )
        self._grant(config, storage)
        # Send to the (KMS-encrypted) status consumer's queue: exact actions, not CDK's kms:*Key* wildcards.
        iam.Grant.add_to_principal(
            grantee=self.function, actions=["sqs:SendMessage"], resource_arns=[events_queue.queue_arn]
        )
        status.key.grant(self.function, "kms:GenerateDataKey", "kms:Decrypt")
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"Pinned to {RUNTIME.name}: the bundled wheels are built, and the code is tested, for this "
            "Python version; moving is a deliberate upgrade.",
        )

    def _grant(self, config: ServiceConfig, storage: StorageRefs) -> None:
        data, hosting = storage.data_bucket, storage.hosting_bucket
        # Read the record and the staged model (HEAD of an absent verdict needs ListBucket to answer 404).
        grant_objects(self.function, data, storage.data_key, [Prefix.TRAININGS], read=True)
        grant_objects(self.function, data, storage.data_key, [VERDICT], write=True)
        grant_objects(self.function, data, storage.data_key, [STAGED], delete=True)
        # Read too: republishing lists and rebuilds the archives published before they were code-free
        # (its verdict, trainings/<owner>/republished/<model_id>/publication.json, is a VERDICT key).
        grant_objects(self.function, hosting, storage.hosting_key, [Prefix.MODELS], read=True, write=True)
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.",
        )
        acknowledge_object_prefixes(
            self.role,
            nag_bucket_name(config, "data"),
            {
                Prefix.TRAININGS: "read a training's record and its staged adapter and metadata.",
                VERDICT: "write the publisher's verdict next to the training.",
                STAGED: "delete the staged adapter and metadata once published.",
            },
        )
        acknowledge_object_prefixes(
            self.role,
            nag_bucket_name(config, "hosting"),
            {
                Prefix.MODELS: "publish the checked, rebuilt model archive (its only writer); read and "
                "rebuild the archives published before they were code-free."
            },
        )

    def alarms(self, period: Duration) -> dict[str, tuple[cloudwatch.IMetric, float, str]]:
        """The publisher's alarms (stacks.monitoring creates them like the others)."""
        return {
            "ModelPublisherDeadLetters": (
                self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=period, statistic="Maximum"
                ),
                1,
                "Finished trainings the model publisher could not handle reached its dead-letter queue.",
            ),
            "ModelPublisherFunctionErrors": (
                self.function.metric_errors(period=period, statistic="Sum"),
                1,
                "The model publisher function raised errors.",
            ),
        }
