"""A Lambda function on its own SQS queue: the shape of every queue consumer of the service (the status
consumer, the model publisher, the pack runner).

Each consumer gets a queue with a dead-letter queue, both TLS-only and encrypted with the messaging key
(`TrainingStatus.key`), its own role and encrypted log group, the API's code asset on the pinned runtime,
X-Ray tracing, partial batch failures, and two alarms (dead letters, function errors). The parts are
created in the consumer construct itself under fixed ids (`DeadLetterQueue`, `Queue`, `Logs`, `Role`,
`Function`), so the CloudFormation logical ids do not depend on this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, Size
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import POWERTOOLS_ENVIRONMENT, ServiceConfig
from stacks.lambda_code import RUNTIME, api_code
from stacks.log_groups import encrypted_log_group
from stacks.nag import acknowledge
from stacks.service_principals import trusted_service
from stacks.service_refs import ServiceRefs

RETENTION = Duration.days(14)


def lambda_architecture(config: ServiceConfig) -> lambda_.Architecture:
    """The functions' CPU architecture (cdk.json `lambdaArchitecture`)."""
    if config.lambda_architecture == "arm64":
        return lambda_.Architecture.ARM_64
    return lambda_.Architecture.X86_64


def acknowledge_pinned_runtime(function: lambda_.Function) -> None:
    acknowledge(
        function,
        "AwsSolutions-L1",
        f"Pinned to {RUNTIME.name}: the bundled wheels are built, and the code is tested, for this "
        "Python version; moving is a deliberate upgrade.",
    )


@dataclass(frozen=True, kw_only=True)
class QueueSpec:
    """The queue side: names, how long a message is hidden while handled, deliveries before the DLQ."""

    name: str
    dead_letter_name: str
    visibility_timeout_seconds: int
    max_receive_count: int
    retention_days: int = 14


@dataclass(frozen=True, kw_only=True)
class FunctionSpec:
    """The function side: name, handler, sizes, and how many batches run at once (named arguments only:
    most fields share a type, so a value in the wrong place would still type-check)."""

    name: str
    handler: str
    description: str
    role_description: str
    memory_mb: int
    timeout_seconds: int
    batch_size: int
    max_concurrency: int | None = None  # the event source's bound (None: as many as Lambda scales to)
    reserved_concurrency: int | None = None  # the function's own share of the account's concurrency
    role_name: str | None = None  # fixed when a resource policy names the role
    ephemeral_storage_mib: int | None = None


@dataclass(frozen=True, kw_only=True)
class AlarmSpec:
    """The consumer's two alarms, `<name>DeadLetters` and `<name>FunctionErrors`, and their descriptions."""

    name: str
    dead_letters: str
    errors: str


def _encrypted_queue(scope: Construct, construct_id: str, key: kms.IKey, **props: Any) -> sqs.Queue:
    """A queue KMS-encrypted with the messaging `key`, TLS only; `props`: the rest of `sqs.QueueProps`."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        **props,
    )


class QueueConsumer(Construct):
    """A construct built around a Lambda function on its own SQS queue: `_consume` creates the queue, its
    dead-letter queue, the function and its role in it (`queue`, `dead_letter_queue`, `function`, `role`);
    subclasses add what their function may do."""

    dead_letter_queue: sqs.Queue
    queue: sqs.Queue
    role: iam.Role
    function: lambda_.Function
    alarm: AlarmSpec

    def _consume(
        self,
        refs: ServiceRefs,
        *,
        queue: QueueSpec,
        function: FunctionSpec,
        environment: Mapping[str, str],
        alarm: AlarmSpec,
    ) -> None:
        """The queue, its dead-letter queue and the function consuming it, in this construct."""
        config, key = refs.config, refs.status.key
        dead_letter_queue = _encrypted_queue(
            self, "DeadLetterQueue", key, queue_name=queue.dead_letter_name, retention_period=RETENTION
        )
        work_queue = _encrypted_queue(
            self,
            "Queue",
            key,
            queue_name=queue.name,
            data_key_reuse=Duration.hours(1),
            retention_period=Duration.days(queue.retention_days),
            visibility_timeout=Duration.seconds(queue.visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=dead_letter_queue, max_receive_count=queue.max_receive_count
            ),
        )
        log_group = encrypted_log_group(self, "Logs", config, log_group_name=f"/aws/lambda/{function.name}")
        role = iam.Role(
            self,
            "Role",
            role_name=function.role_name,
            assumed_by=trusted_service(self, "lambda.amazonaws.com", "lambda"),
            description=function.role_description,
        )
        log_group.grant_write(role)
        architecture = lambda_architecture(config)
        consumer = lambda_.Function(
            self,
            "Function",
            function_name=function.name,
            role=role,
            description=function.description,
            runtime=RUNTIME,
            architecture=architecture,
            handler=function.handler,
            code=api_code(architecture),
            environment={**environment, **POWERTOOLS_ENVIRONMENT},
            memory_size=function.memory_mb,
            ephemeral_storage_size=(
                Size.mebibytes(function.ephemeral_storage_mib) if function.ephemeral_storage_mib else None
            ),
            timeout=Duration.seconds(function.timeout_seconds),
            reserved_concurrent_executions=function.reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
        )
        consumer.add_event_source(
            sources.SqsEventSource(
                work_queue,
                batch_size=function.batch_size,
                report_batch_item_failures=True,
                max_concurrency=function.max_concurrency,
            )
        )
        acknowledge_pinned_runtime(consumer)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.",
        )
        self.dead_letter_queue, self.queue, self.role, self.function = (
            dead_letter_queue,
            work_queue,
            role,
            consumer,
        )
        self.alarm = alarm

    def alarms(self, period: Duration) -> dict[str, tuple[cloudwatch.IMetric, float, str]]:
        """The two alarms' metrics, thresholds and descriptions (stacks.monitoring creates them)."""
        return {
            f"{self.alarm.name}DeadLetters": (
                self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=period, statistic="Maximum"
                ),
                1,
                self.alarm.dead_letters,
            ),
            f"{self.alarm.name}FunctionErrors": (
                self.function.metric_errors(period=period, statistic="Sum"),
                1,
                self.alarm.errors,
            ),
        }
