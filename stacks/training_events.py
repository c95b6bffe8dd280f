"""Training events (docs/events.md): the status consumer — a Lambda function on its own SQS queue
(KMS, DLQ), subscribed with raw delivery to SageMaker's error topic and fed SageMaker's success
notifications by the model publisher once it has published the model — and the events topic it
publishes per-owner events to (message attributes `owner`, `status`: apps filter per end user)."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from avatar_contract.names import Prefix
from stacks.config import ServiceConfig
from stacks.config_constants import (
    STATUS_EVENTS_BATCH_SIZE,
    STATUS_EVENTS_HANDLER,
    STATUS_EVENTS_MAX_RECEIVE_COUNT,
    STATUS_EVENTS_TIMEOUT_SECONDS,
    STATUS_EVENTS_VISIBILITY_TIMEOUT_SECONDS,
)
from stacks.config_lambda_env import status_events_environment
from stacks.grants import grant_objects
from stacks.nag import acknowledge, acknowledge_encrypted_publish, acknowledge_object_prefixes
from stacks.owner_key import grant_read_owner_key
from stacks.queue_consumer import AlarmSpec, FunctionSpec, QueueConsumer, QueueSpec
from stacks.service_refs import ServiceRefs
from stacks.state_table import QUOTA_KEYS
from stacks.status import encrypted_topic
from stacks.storage import StorageRefs, nag_bucket_name

HANDLER = STATUS_EVENTS_HANDLER
BATCH_SIZE = STATUS_EVENTS_BATCH_SIZE
MAX_RECEIVE_COUNT = STATUS_EVENTS_MAX_RECEIVE_COUNT


class TrainingEvents(QueueConsumer):
    """Events topic, consumer queue + DLQ on the status topics, the consumer, a subscribe policy."""

    def __init__(self, scope: Construct, construct_id: str, refs: ServiceRefs) -> None:
        config, storage, status, state = refs.config, refs.storage, refs.status, refs.state
        owner_key_arn = refs.owner_key.secret_arn
        super().__init__(scope, construct_id)
        key = status.key
        self.topic = encrypted_topic(
            self, "Topic", config.training_events_topic_name, "Avatar training events", key
        )
        self._consume(
            refs,
            queue=QueueSpec(
                name=config.status_events_queue_name,
                dead_letter_name=config.status_events_dead_letter_queue_name,
                visibility_timeout_seconds=STATUS_EVENTS_VISIBILITY_TIMEOUT_SECONDS,
                max_receive_count=MAX_RECEIVE_COUNT,
            ),
            # The API's code asset; bounded by its event source's maximum concurrency
            # (statusEventsMaxConcurrency), not by reserved concurrency.
            function=FunctionSpec(
                name=config.status_events_function_name,
                handler=HANDLER,
                description="Avatar service: SageMaker notifications -> training events per owner",
                role_description=f"Avatar service status consumer {config.status_events_function_name}",
                memory_mb=512,
                timeout_seconds=STATUS_EVENTS_TIMEOUT_SECONDS,
                batch_size=BATCH_SIZE,
                max_concurrency=config.status_events_max_concurrency,
            ),
            environment=status_events_environment(
                config, refs.lambda_resources(events_topic_arn=self.topic.topic_arn)
            ),
            alarm=AlarmSpec(
                name="StatusEvents",
                dead_letters="Notifications the status consumer could not turn into events reached its "
                "dead-letter queue.",
                errors="The status consumer function raised errors.",
            ),
        )
        # Failures come straight from SageMaker's error topic; successes come through the model publisher
        # (stacks.publisher), which forwards each one once the model is published or refused.
        status.error_topic.add_subscription(
            subscriptions.SqsSubscription(self.queue, raw_message_delivery=True)
        )
        self._grant(config, storage)
        grant_read_owner_key(self.role, owner_key_arn, storage.data_key)  # to sign webhooks
        state.grant(self.function, ["GetItem", "UpdateItem"], [QUOTA_KEYS])
        # What an app's role needs to subscribe its own (filtered) queue or endpoint to the events topic:
        # attach this managed policy (output TrainingEventsSubscribePolicyArn).
        self.subscribe_policy = iam.ManagedPolicy(
            self,
            "SubscribePolicy",
            description="Subscribe to the avatar service's training events topic (with a filter policy).",
            statements=[
                iam.PolicyStatement(
                    actions=["sns:Subscribe", "sns:GetTopicAttributes"], resources=[self.topic.topic_arn]
                ),
                iam.PolicyStatement(
                    actions=[
                        "sns:Unsubscribe",
                        "sns:GetSubscriptionAttributes",
                        "sns:SetSubscriptionAttributes",
                    ],
                    resources=[f"{self.topic.topic_arn}:*"],
                ),
            ],
        )
        acknowledge(
            self.subscribe_policy,
            "AwsSolutions-IAM5[Resource::<EventsTopic97220A64>:*]",
            "Subscription ARNs are <topic ARN>:<uuid> and only known after subscribing; the wildcard is "
            "limited to this topic's subscriptions.",
        )

    def _grant(self, config: ServiceConfig, storage: StorageRefs) -> None:
        data, hosting = storage.data_bucket, storage.hosting_bucket
        # Read and mark the record; read SageMaker's async outcome; is the model published?
        grant_objects(self.function, data, storage.data_key, [Prefix.TRAININGS], read=True, write=True)
        grant_objects(
            self.function, data, storage.data_key, [Prefix.ASYNC_OUTPUTS, Prefix.ASYNC_FAILURES], read=True
        )
        grant_objects(self.function, hosting, storage.hosting_key, [Prefix.MODELS], read=True)
        self.topic.grant_publish(self.function)
        acknowledge_encrypted_publish(self.role, "events topic")
        acknowledge_object_prefixes(
            self.role,
            nag_bucket_name(config, "data"),
            {
                Prefix.TRAININGS: "read a training's record and mark its event on it.",
                Prefix.ASYNC_OUTPUTS: "read SageMaker's async result of a training.",
                Prefix.ASYNC_FAILURES: "read SageMaker's async failure of a training.",
            },
        )
        acknowledge_object_prefixes(
            self.role,
            nag_bucket_name(config, "hosting"),
            {Prefix.MODELS: "is the model published (a training without readable output)."},
        )
