"""moto's server on 127.0.0.1, provisioned with the resources the CDK app deploys (same names/settings)."""

from __future__ import annotations

import json
import logging
import secrets
import string
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from avatar_contract.names import PackRunner, StateTable
from local_cloud.http_server import POLL_INTERVAL_S
from local_cloud.serial_dynamodb import OneDynamoDbRequestAtATime
from local_cloud.settings import ACCOUNT_ID, CloudSettings
from stacks.config_constants import (
    PUBLISHER_VISIBILITY_TIMEOUT_SECONDS,
    STATUS_EVENTS_MAX_RECEIVE_COUNT,
    STATUS_EVENTS_VISIBILITY_TIMEOUT_SECONDS,
)

log = logging.getLogger(__name__)

# Credentials the local cloud's own parts (Lambda functions, the SageMaker runtime) use towards moto,
# standing in for their IAM roles. moto accepts any key.
SERVICE_ACCESS_KEY_ID = "AKIALOCALCLOUDSERVICE"
SERVICE_SECRET_ACCESS_KEY = "local-cloud-service-role-not-a-secret"


@dataclass(frozen=True)
class Provisioned:
    """Identifiers of what was created (ARNs/URLs the other parts need)."""

    status_queue_url: str
    owner_key_secret_arn: str
    events_topic_arn: str = ""
    status_events_queue_url: str = ""
    publisher_queue_url: str = ""  # the model publisher's queue on the success topic (issue 21 M1)
    pack_queue_url: str = ""  # the pack runner's work queue (docs/packs.md)


class _MotoServer:
    """moto's server app (what `moto_server` serves) behind `OneDynamoDbRequestAtATime`, on werkzeug's
    threaded server in a daemon thread. moto's `ThreadedMotoServer` offers no way to wrap its app except
    overriding its private `_server_entry`, so the few lines it runs are here, on public names only."""

    def __init__(self, host: str) -> None:
        app = OneDynamoDbRequestAtATime().wsgi(DomainDispatcherApplication(create_backend_app))
        self._host, self._app = host, app
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        """Listen on a free port (bound before this returns) and serve; the address served."""
        self._server = make_server(
            self._host, 0, self._app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(POLL_INTERVAL_S,), name="moto", daemon=True
        )
        self._thread.start()
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(1)
            self._thread = None


class MotoAws:
    """moto's threaded server on a free port of 127.0.0.1, plus clients that talk to it. moto's state is
    per process, so one local cloud runs per process at a time."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._server = _MotoServer("127.0.0.1")
        self.endpoint_url = ""

    def start(self) -> None:
        host, port = self._server.start()
        self.endpoint_url = f"http://{host}:{port}"
        # moto keeps its backends per Python process, not per server: start from an empty account even
        # if an earlier local cloud ran in this process (e.g. the previous test module).
        reset = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(reset, timeout=30) as response:
            response.read()

    def stop(self) -> None:
        self._server.stop()

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=SERVICE_ACCESS_KEY_ID,
            aws_secret_access_key=SERVICE_SECRET_ACCESS_KEY,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )


# moto validates instance types against an old list without g5/g6; the configured type is kept in a tag.
_MOTO_KNOWN_GPU_TYPE = "ml.g4dn.xlarge"


def _moto_instance_type(instance_type: str) -> str:
    return (
        instance_type if instance_type.startswith(("ml.g4dn.", "ml.p3.", "ml.m5.")) else _MOTO_KNOWN_GPU_TYPE
    )


def provision(aws: MotoAws, settings: CloudSettings, images: dict[str, str]) -> Provisioned:
    """Create buckets, the owner-id key, the state table, topics, the status queue and its subscriptions,
    and the two SageMaker endpoints (models, endpoint configs with the async config, endpoints) as the
    stacks declare them."""
    s3 = aws.client("s3")
    for bucket in (settings.data_bucket, settings.hosting_bucket):
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if settings.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.region}
        s3.create_bucket(**kwargs)
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
            },
        )
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )

    # A fresh owner-id key per local cloud, as the stateful stack generates one per deployment.
    owner_key_arn = aws.client("secretsmanager").create_secret(
        Name=settings.owner_key_secret,
        SecretString="".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(64)),
    )["ARN"]
    StateTable.create(aws.client("dynamodb"), settings.state_table)

    sns = aws.client("sns")
    sqs = aws.client("sqs")
    success_arn = sns.create_topic(Name=settings.success_topic)["TopicArn"]
    error_arn = sns.create_topic(Name=settings.error_topic)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=settings.status_queue)["QueueUrl"]
    queue_arn = _queue_arn(sqs, queue_url)
    _allow_topics(sqs, queue_url, queue_arn, [success_arn, error_arn])
    for topic_arn in (success_arn, error_arn):
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true" if settings.raw_message_delivery else "false"},
        )

    events_topic_arn, status_events_queue_url = _provision_training_events(sns, sqs, settings, error_arn)
    publisher_queue_url = _provision_publisher_queue(sns, sqs, settings, success_arn)
    # As stacks.pack_runner.PackRunnerFunction declares it (visibility timeout, dead-letter queue).
    pack_queue_url = _queue_with_dead_letter(
        sqs,
        settings.config.pack_queue_name,
        settings.config.pack_dead_letter_queue_name,
        PackRunner.VISIBILITY_TIMEOUT_SECONDS,
        PackRunner.MAX_RECEIVE_COUNT,
    )

    sagemaker = aws.client("sagemaker")
    _create_endpoint(
        sagemaker,
        settings,
        "training",
        {"Image": images["training"], "Mode": "SingleModel"},
        AsyncInferenceConfig={
            "ClientConfig": {
                "MaxConcurrentInvocationsPerInstance": settings.max_concurrent_invocations_per_instance
            },
            "OutputConfig": {
                "S3OutputPath": settings.async_output_path,
                "S3FailurePath": settings.async_failure_path,
                "NotificationConfig": {
                    "SuccessTopic": success_arn,
                    "ErrorTopic": error_arn,
                    "IncludeInferenceResponseIn": ["SUCCESS_NOTIFICATION_TOPIC", "ERROR_NOTIFICATION_TOPIC"],
                },
            },
        },
    )
    _create_endpoint(
        sagemaker,
        settings,
        "hosting",
        {"Image": images["hosting"], "Mode": "MultiModel", "ModelDataUrl": settings.model_data_url},
    )
    log.info("provisioned %s, %s, %s", settings.data_bucket, settings.hosting_bucket, queue_url)
    return Provisioned(
        queue_url,
        owner_key_arn,
        events_topic_arn,
        status_events_queue_url,
        publisher_queue_url,
        pack_queue_url,
    )


def _queue_arn(sqs: Any, queue_url: str) -> str:
    return str(
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    )


def _queue_with_dead_letter(
    sqs: Any,
    name: str,
    dead_letter_name: str,
    visibility_seconds: int,
    max_receive_count: int = STATUS_EVENTS_MAX_RECEIVE_COUNT,
) -> str:
    """A queue (14 days' retention, `visibility_seconds`) whose messages go to its dead-letter queue after
    `max_receive_count` receives, as the stack's function queues; returns its URL."""
    retention = str(14 * 86400)
    dead_letter_url = sqs.create_queue(
        QueueName=dead_letter_name, Attributes={"MessageRetentionPeriod": retention}
    )["QueueUrl"]
    redrive = {
        "deadLetterTargetArn": _queue_arn(sqs, dead_letter_url),
        "maxReceiveCount": max_receive_count,
    }
    attributes = {"MessageRetentionPeriod": retention, "VisibilityTimeout": str(visibility_seconds)}
    attributes["RedrivePolicy"] = json.dumps(redrive)
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def _provision_training_events(
    sns: Any, sqs: Any, settings: CloudSettings, error_topic_arn: str
) -> tuple[str, str]:
    """As `stacks.training_events.TrainingEvents` declares them: the events topic, and the status
    consumer's queue (visibility timeout, dead-letter queue after the same number of receives) subscribed
    with raw delivery to the error topic (successes arrive through the model publisher). Returns the
    topic's ARN and the queue's URL."""
    topic_arn = str(sns.create_topic(Name=settings.events_topic)["TopicArn"])
    names = settings.status_events_queue, settings.status_events_dead_letter_queue
    queue_url = _subscribed_queue(sns, sqs, error_topic_arn, names, STATUS_EVENTS_VISIBILITY_TIMEOUT_SECONDS)
    return topic_arn, queue_url


def _provision_publisher_queue(sns: Any, sqs: Any, settings: CloudSettings, success_topic_arn: str) -> str:
    """As `stacks.publisher.ModelPublisher` declares it: the publisher's queue (visibility timeout,
    dead-letter queue) subscribed with raw delivery to the success topic. Returns its URL."""
    names = settings.config.model_publisher_queue_name, settings.config.model_publisher_dead_letter_queue_name
    return _subscribed_queue(sns, sqs, success_topic_arn, names, PUBLISHER_VISIBILITY_TIMEOUT_SECONDS)


def _subscribed_queue(
    sns: Any, sqs: Any, topic_arn: str, names: tuple[str, str], visibility_seconds: int
) -> str:
    """A function's queue, `names` (the queue's and its dead-letter queue's), subscribed with raw delivery
    to `topic_arn`; returns its URL."""
    queue_url = _queue_with_dead_letter(sqs, *names, visibility_seconds)
    queue_arn = _queue_arn(sqs, queue_url)
    _allow_topics(sqs, queue_url, queue_arn, [topic_arn])
    sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
    )
    return queue_url


def _allow_topics(sqs: Any, queue_url: str, queue_arn: str, topic_arns: list[str]) -> None:
    """The queue policy that lets only these topics send to the queue (as the SNS subscription sets)."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arns}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})


def _create_endpoint(
    sagemaker: Any, settings: CloudSettings, role: str, container: dict[str, str], **config: Any
) -> None:
    """The `role` ("training" or "hosting") endpoint's model, endpoint config (one production variant;
    the configured instance type in a tag, see `_moto_instance_type`, plus `config`) and endpoint."""
    model, endpoint_config, endpoint, instance_type = {
        "training": (
            settings.training_model,
            settings.training_endpoint_config,
            settings.training_endpoint,
            settings.training_instance_type,
        ),
        "hosting": (
            settings.hosting_model,
            settings.hosting_endpoint_config,
            settings.hosting_endpoint,
            settings.hosting_instance_type,
        ),
    }[role]
    sagemaker.create_model(
        ModelName=model,
        PrimaryContainer=container,
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/avatar-local-sagemaker",
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=endpoint_config,
        ProductionVariants=[
            {
                "VariantName": settings.variant_name,
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": _moto_instance_type(instance_type),
                **settings.variant_runtime(role),
            }
        ],
        Tags=[{"Key": "avatar:instance-type", "Value": instance_type}],
        **config,
    )
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint_config)
