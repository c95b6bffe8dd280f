"""Training events (docs/events.md): the status consumer — a Lambda function on its own SQS queue
(KMS, DLQ), subscribed with raw delivery to SageMaker's error topic and fed SageMaker's success
notifications by the model publisher once it has published the model — and the events topic it
publishes per-owner events to (message attributes `owner`, `status`: apps filter per end user)."""

from __future__ import annotations

from aws_cdk import Duration
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
    STATUS_EVENTS_BATCH_SIZE,
    STATUS_EVENTS_HANDLER,
    STATUS_EVENTS_MAX_RECEIVE_COUNT,
    STATUS_EVENTS_TIMEOUT_SECONDS,
    STATUS_EVENTS_VISIBILITY_TIMEOUT_SECONDS,
)
from stacks.grants import grant_objects
from stacks.lambda_code import RUNTIME, api_code
from stacks.log_groups import encrypted_log_group
from stacks.nag import acknowledge, acknowledge_object_prefixes
from stacks.owner_key import grant_read_owner_key
from stacks.service_principals import trusted_service
from stacks.state_table import QUOTA_KEYS, StateTableRefs
from stacks.status import TrainingStatus, encrypted_topic
from stacks.storage import StorageRefs, nag_bucket_name

HANDLER = STATUS_EVENTS_HANDLER
FUNCTION_TIMEOUT = Duration.seconds(STATUS_EVENTS_TIMEOUT_SECONDS)
BATCH_SIZE = STATUS_EVENTS_BATCH_SIZE
MAX_RECEIVE_COUNT = STATUS_EVENTS_MAX_RECEIVE_COUNT


class TrainingEvents(Construct):
    """Events topic, consumer queue + DLQ on the status topics, the consumer, a subscribe policy."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ServiceConfig,
        storage: StorageRefs,
        status: TrainingStatus,
        owner_key_arn: str,
        state: StateTableRefs,
    ) -> None:
        super().__init__(scope, construct_id)
        key = status.key
        self.topic = encrypted_topic(
            self, "Topic", config.training_events_topic_name, "Avatar training events", key
        )
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=config.status_events_dead_letter_queue_name,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=config.status_events_queue_name,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            data_key_reuse=Duration.hours(1),
            enforce_ssl=True,
            retention_period=Duration.days(14),
            visibility_timeout=Duration.seconds(STATUS_EVENTS_VISIBILITY_TIMEOUT_SECONDS),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVE_COUNT
            ),
        )
        # Failures come straight from SageMaker's error topic; successes come through the model publisher
        # (stacks.publisher), which forwards each one once the model is published or refused.
        status.error_topic.add_subscription(
            subscriptions.SqsSubscription(self.queue, raw_message_delivery=True)
        )

        name = config.status_events_function_name
        log_group = encrypted_log_group(self, "Logs", config, log_group_name=f"/aws/lambda/{name}")
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=trusted_service(self, "lambda.amazonaws.com", "lambda"),
            description=f"Avatar service status consumer {name}",
        )
        log_group.grant_write(self.role)
        architecture = (
            lambda_.Architecture.ARM_64
            if config.lambda_architecture == "arm64"
            else lambda_.Architecture.X86_64
        )
        # The API's code asset; bounded by its event source's maximum concurrency
        # (statusEventsMaxConcurrency), not by reserved concurrency.
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=name,
            role=self.role,
            description="Avatar service: SageMaker notifications -> training events per owner",
            runtime=RUNTIME,
            architecture=architecture,
            handler=HANDLER,
            code=api_code(architecture),
            environment={
                Env.DATA_BUCKET: storage.data_bucket.bucket_name,
                Env.HOSTING_BUCKET: storage.hosting_bucket.bucket_name,
                # Read only to sign webhooks (the owner's secret derives from it; avatar_api.identity).
                Env.OWNER_KEY_SECRET: owner_key_arn,
                Env.EVENTS_TOPIC_ARN: self.topic.topic_arn,
                # The consumer gives a finished training's concurrency slot back (avatar_api.quotas).
                Env.STATE_TABLE: config.state_table_name,
                **config.webhook_environment(),
                **POWERTOOLS_ENVIRONMENT,
            },
            memory_size=512,
            timeout=FUNCTION_TIMEOUT,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
        )
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=BATCH_SIZE,
                report_batch_item_failures=True,
                max_concurrency=config.status_events_max_concurrency,
            )
        )
        self._grant(config, storage)
        grant_read_owner_key(self.role, owner_key_arn, storage.data_key)  # to sign webhooks
        state.grant(self.function, ["GetItem", "UpdateItem"], [QUOTA_KEYS])
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"Pinned to {RUNTIME.name}: the bundled wheels are built, and the code is tested, for this "
            "Python version; moving is a deliberate upgrade.",
        )

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

    def alarms(self, period: Duration) -> dict[str, tuple[cloudwatch.IMetric, float, str]]:
        """The consumer's alarms (stacks.monitoring creates them like the others)."""
        return {
            "StatusEventsDeadLetters": (
                self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=period, statistic="Maximum"
                ),
                1,
                "Notifications the status consumer could not turn into events reached its dead-letter queue.",
            ),
            "StatusEventsFunctionErrors": (
                self.function.metric_errors(period=period, statistic="Sum"),
                1,
                "The status consumer function raised errors.",
            ),
        }

    def _grant(self, config: ServiceConfig, storage: StorageRefs) -> None:
        data, hosting = storage.data_bucket, storage.hosting_bucket
        # Read and mark the record; read SageMaker's async outcome; is the model published?
        grant_objects(self.function, data, storage.data_key, [Prefix.TRAININGS], read=True, write=True)
        grant_objects(
            self.function, data, storage.data_key, [Prefix.ASYNC_OUTPUTS, Prefix.ASYNC_FAILURES], read=True
        )
        grant_objects(self.function, hosting, storage.hosting_key, [Prefix.MODELS], read=True)
        self.topic.grant_publish(self.function)
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.",
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
            "CDK's SNS publish grant on the KMS-encrypted events topic: data keys of the messaging key.",
        )
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
