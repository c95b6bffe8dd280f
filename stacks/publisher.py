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

from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from avatar_contract.names import Prefix
from stacks.config import ServiceConfig
from stacks.config_constants import (
    PUBLISHER_HANDLER,
    PUBLISHER_MAX_CONCURRENCY,
    PUBLISHER_TIMEOUT_SECONDS,
    PUBLISHER_VISIBILITY_TIMEOUT_SECONDS,
    STATUS_EVENTS_MAX_RECEIVE_COUNT,
)
from stacks.config_lambda_env import publisher_environment
from stacks.grants import grant_objects
from stacks.nag import acknowledge_object_prefixes
from stacks.queue_consumer import AlarmSpec, FunctionSpec, QueueConsumer, QueueSpec
from stacks.service_refs import ServiceRefs
from stacks.storage import StorageRefs, nag_bucket_name

# Per training, below its own prefix: the staged adapter and metadata (read, then deleted), the verdict.
STAGED = f"{Prefix.TRAININGS}*/*/staged/"
VERDICT = f"{Prefix.TRAININGS}*/*/publication.json"


class ModelPublisher(QueueConsumer):
    """Queue + DLQ on the success topic, the publisher function and its fixed-name role."""

    def __init__(
        self, scope: Construct, construct_id: str, refs: ServiceRefs, *, events_queue: sqs.IQueue
    ) -> None:
        config, storage, status = refs.config, refs.storage, refs.status
        super().__init__(scope, construct_id)
        self._consume(
            refs,
            queue=QueueSpec(
                name=config.model_publisher_queue_name,
                dead_letter_name=config.model_publisher_dead_letter_queue_name,
                visibility_timeout_seconds=PUBLISHER_VISIBILITY_TIMEOUT_SECONDS,
                max_receive_count=STATUS_EVENTS_MAX_RECEIVE_COUNT,
            ),
            function=FunctionSpec(
                name=config.model_publisher_function_name,
                handler=PUBLISHER_HANDLER,
                description="Avatar service: a finished training's staged model checked and published to "
                "models/",
                role_description=f"Avatar service model publisher {config.model_publisher_function_name}: "
                "the only writer of models/*",
                role_name=config.model_publisher_role_name,
                memory_mb=1024,
                # The adapter and the archive built from it (each at most publishing.MAX_ADAPTER_BYTES).
                ephemeral_storage_mib=2048,
                timeout_seconds=PUBLISHER_TIMEOUT_SECONDS,
                batch_size=1,
                max_concurrency=PUBLISHER_MAX_CONCURRENCY,
            ),
            environment=publisher_environment(
                config, refs.lambda_resources(status_events_queue_url=events_queue.queue_url)
            ),
            alarm=AlarmSpec(
                name="ModelPublisher",
                dead_letters="Finished trainings the model publisher could not handle reached its "
                "dead-letter queue.",
                errors="The model publisher function raised errors.",
            ),
        )
        status.success_topic.add_subscription(
            subscriptions.SqsSubscription(self.queue, raw_message_delivery=True)
        )
        self._grant(config, storage)
        # Send to the (KMS-encrypted) status consumer's queue: exact actions, not CDK's kms:*Key* wildcards.
        iam.Grant.add_to_principal(
            grantee=self.function, actions=["sqs:SendMessage"], resource_arns=[events_queue.queue_arn]
        )
        status.key.grant(self.function, "kms:GenerateDataKey", "kms:Decrypt")

    def _grant(self, config: ServiceConfig, storage: StorageRefs) -> None:
        data, hosting = storage.data_bucket, storage.hosting_bucket
        # Read the record and the staged model (HEAD of an absent verdict needs ListBucket to answer 404).
        grant_objects(self.function, data, storage.data_key, [Prefix.TRAININGS], read=True)
        grant_objects(self.function, data, storage.data_key, [VERDICT], write=True)
        grant_objects(self.function, data, storage.data_key, [STAGED], delete=True)
        # Read too: republishing lists and rebuilds the archives published before they were code-free
        # (its verdict, trainings/<owner>/republished/<model_id>/publication.json, is a VERDICT key).
        grant_objects(self.function, hosting, storage.hosting_key, [Prefix.MODELS], read=True, write=True)
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
