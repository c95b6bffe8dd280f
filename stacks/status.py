"""Status fan-out (docs/design.md §2 steps 4-5): SageMaker's async success and error topics, and the
SQS status queue (with a dead-letter queue) that client apps consume."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import ServiceConfig
from stacks.keys import service_key
from stacks.service_principals import bind_key_statements


def encrypted_topic(
    scope: Construct, construct_id: str, topic_name: str, display_name: str, key: kms.IKey
) -> sns.Topic:
    """An SNS topic encrypted with `key` that refuses publishers not using TLS (the service's topics)."""
    return sns.Topic(
        scope,
        construct_id,
        topic_name=topic_name,
        display_name=display_name,
        master_key=key,
        enforce_ssl=True,
    )


class TrainingStatus(Construct):
    """Success/error topics (KMS), a status queue subscribed to both with raw message delivery (the
    message body is SageMaker's notification JSON, unchanged), its DLQ, and a consume policy."""

    def __init__(self, scope: Construct, construct_id: str, *, config: ServiceConfig) -> None:
        super().__init__(scope, construct_id)
        # Messages are transient, so their key lives with them here rather than in the stateful stack;
        # SNS must be allowed to use it to deliver into the encrypted queue (added by the subscription).
        self.key = service_key(
            self,
            config,
            "messaging",
            "Encrypts the avatar service's training status topics and queues, and its alarms.",
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        self.success_topic = encrypted_topic(
            self, "SuccessTopic", config.training_success_topic_name, "Avatar training succeeded", self.key
        )
        self.error_topic = encrypted_topic(
            self, "ErrorTopic", config.training_error_topic_name, "Avatar training failed", self.key
        )
        # SNS delivers into the encrypted queues with this key: only from this account's topics of this app.
        bind_key_statements(self.key, "sns.amazonaws.com", "sns", f"{config.resource_prefix}-*")
        self.dead_letter_queue = self._queue("DeadLetterQueue", config.status_dead_letter_queue_name)
        self.queue = self._queue(
            "Queue",
            config.status_queue_name,
            data_key_reuse=Duration.hours(1),
            visibility_timeout=Duration.seconds(60),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=5),
        )
        for topic in (self.success_topic, self.error_topic):
            topic.add_subscription(subscriptions.SqsSubscription(self.queue, raw_message_delivery=True))

        # What a client app's role needs to consume the queue: attach this managed policy (output
        # StatusConsumePolicyArn), or list the role in context `statusConsumerRoleArns`.
        self.consume_policy = iam.ManagedPolicy(
            self,
            "ConsumePolicy",
            description="Consume the avatar service's training status queue.",
            statements=[
                iam.PolicyStatement(
                    actions=[
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:ChangeMessageVisibility",
                        "sqs:GetQueueAttributes",
                        "sqs:GetQueueUrl",
                    ],
                    resources=[self.queue.queue_arn],
                ),
                iam.PolicyStatement(actions=["kms:Decrypt"], resources=[self.key.key_arn]),
            ],
        )
        for index, role_arn in enumerate(config.status_consumer_role_arns):
            role = iam.Role.from_role_arn(self, f"Consumer{index}", role_arn, mutable=True)
            self.consume_policy.attach_to_role(role)

    def _queue(self, construct_id: str, queue_name: str, **options: Any) -> sqs.Queue:
        """A queue encrypted with the messaging key, TLS only, keeping messages 14 days."""
        return sqs.Queue(
            self,
            construct_id,
            queue_name=queue_name,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            **options,
        )

    def grant_publish(self, grantee: iam.IGrantable) -> None:
        """SageMaker publishes async notifications with the endpoint's execution role."""
        self.success_topic.grant_publish(grantee)
        self.error_topic.grant_publish(grantee)
