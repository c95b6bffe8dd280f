"""The pack runner (docs/packs.md, issue 25): the pack work queue (KMS, TLS only, a dead-letter queue) that
POST /models/{model_id}/packs fills with one item per image, and the function that renders them on the
multi-model endpoint. Its reserved concurrency (`packRunnerReservedConcurrency`) is how many pack images
render at once: the share of the hosting fleet background packs may take, so interactive generations keep
the rest. Alarms: anything in the dead-letter queue, function errors."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from avatar_contract import routes
from avatar_contract.keys import GENERATIONS_PREFIX
from avatar_contract.names import Env, PackRunner
from stacks.config import ServiceConfig
from stacks.config_lambda_env import pack_runner_environment
from stacks.grants import grant_objects
from stacks.hosting_endpoint import HostingEndpoint
from stacks.moderation import ContentModeration
from stacks.nag import acknowledge_encrypted_publish, acknowledge_object_prefixes
from stacks.owner_key import grant_read_owner_key
from stacks.queue_consumer import AlarmSpec, FunctionSpec, QueueConsumer, QueueSpec
from stacks.service_refs import ServiceRefs
from stacks.state_table import PACK_IDEMPOTENCY_KEYS, PACK_KEYS, QUOTA_KEYS, StateTableRefs
from stacks.storage import StorageRefs, nag_bucket_name

# generations/<owner>/<model_id>/packs/<job_id>/...: a job's record, images and results.
PACK_OBJECTS = f"{GENERATIONS_PREFIX}*/*/packs/"
# The owner's webhook secret generation (avatar_contract.keys.webhook_secret_key): to sign webhooks.
WEBHOOK_SECRETS = "trainings/*/_webhook-secret.json"


class PackRunnerFunction(QueueConsumer):
    """Work queue + DLQ (the messaging key), the runner with its own reserved concurrency, its grants."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        refs: ServiceRefs,
        *,
        hosting: HostingEndpoint,
        events_topic: sns.ITopic,
        moderation: ContentModeration,
    ) -> None:
        config, storage, state = refs.config, refs.storage, refs.state
        owner_key_arn = refs.owner_key.secret_arn
        super().__init__(scope, construct_id)
        self.key = refs.status.key
        self._consume(
            refs,
            queue=QueueSpec(
                name=config.pack_queue_name,
                dead_letter_name=config.pack_dead_letter_queue_name,
                visibility_timeout_seconds=PackRunner.VISIBILITY_TIMEOUT_SECONDS,
                max_receive_count=PackRunner.MAX_RECEIVE_COUNT,
                retention_days=4,
            ),
            function=FunctionSpec(
                name=config.pack_runner_function_name,
                handler=PackRunner.HANDLER,
                description="Avatar service: pack work items -> images of the owner's model",
                role_description=f"Avatar service pack runner {config.pack_runner_function_name}",
                memory_mb=1024,
                timeout_seconds=PackRunner.TIMEOUT_SECONDS,
                batch_size=PackRunner.BATCH_SIZE,
                reserved_concurrency=config.pack_runner_reserved_concurrency,
            ),
            environment=pack_runner_environment(
                config,
                refs.lambda_resources(
                    hosting_endpoint=hosting.endpoint_name, events_topic_arn=events_topic.topic_arn
                ),
            ),
            alarm=AlarmSpec(
                name="PackRunner",
                dead_letters="Pack work items the runner could not finish reached its dead-letter queue.",
                errors="The pack runner function raised errors.",
            ),
        )
        # To delay a message (backoff): the queue's own URL.
        self.function.add_environment(Env.PACK_QUEUE_URL, self.queue.queue_url)
        data = storage.data_bucket
        grant_objects(self.function, data, storage.data_key, [PACK_OBJECTS], read=True, write=True)
        grant_objects(self.function, data, storage.data_key, [WEBHOOK_SECRETS], read=True)
        hosting.grant_invoke(self.function)
        events_topic.grant_publish(self.function)
        grant_read_owner_key(self.role, owner_key_arn, storage.data_key)
        # Counts its images and claims the job's end (pack#), gives the job's slot back (quota#).
        state.grant(self.function, ["GetItem", "UpdateItem"], [QUOTA_KEYS, PACK_KEYS])
        moderation.grant(self.function, image_stages=("outputs",), prompts=False)
        self._acknowledge(config)

    def grant_api(
        self,
        functions: dict[str, lambda_.Function],
        storage: StorageRefs,
        state: StateTableRefs,
        config: ServiceConfig,
    ) -> None:
        """The generations function starts and cancels jobs: it sends work items, writes a job's record
        (and removes it when the submission rolls back), creates and cancels its counters, and keeps the
        idempotency records of pack submissions. The reads function presigns a job's images."""
        generations, reads = functions[routes.GENERATIONS.name], functions[routes.READS.name]
        # Send only (CDK's grant_send_messages adds kms:ReEncrypt* and GenerateDataKey*): SQS needs a data
        # key of the queue's key, and Decrypt to reuse it.
        iam.Grant.add_to_principal(
            grantee=generations, actions=["sqs:SendMessage"], resource_arns=[self.queue.queue_arn]
        )
        self.key.grant(generations, "kms:GenerateDataKey", "kms:Decrypt")
        generations.add_environment(Env.PACK_QUEUE_URL, self.queue.queue_url)
        data, data_key = storage.data_bucket, storage.data_key
        grant_objects(generations, data, data_key, [PACK_OBJECTS], read=True, write=True, delete=True)
        grant_objects(reads, data, data_key, [PACK_OBJECTS], read=True)
        read_write = ["GetItem", "PutItem", "UpdateItem", "DeleteItem"]
        state.grant(generations, read_write, [PACK_KEYS, PACK_IDEMPOTENCY_KEYS])
        for function, reason in (
            (generations, "record, read and roll back the caller's pack jobs; presign their images."),
            (reads, "read the caller's pack jobs and presign their images."),
        ):
            role = function.role
            assert isinstance(role, iam.Role)
            acknowledge_object_prefixes(role, nag_bucket_name(config, "data"), {PACK_OBJECTS: reason})

    def _acknowledge(self, config: ServiceConfig) -> None:
        acknowledge_encrypted_publish(self.role, "events topic")
        acknowledge_object_prefixes(
            self.role,
            nag_bucket_name(config, "data"),
            {
                PACK_OBJECTS: "store a pack job's images and results under the owner's model.",
                WEBHOOK_SECRETS: "which generation of the owner's webhook secret signs.",
            },
        )
