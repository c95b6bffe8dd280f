"""The Lambda functions' environment variables: the one builder the stacks and the local cloud both call.

Standard library and `stacks.config` only (no CDK), so the local cloud imports it. What the stacks know
only at deploy time (bucket names, the secret's ARN, a queue's URL: CDK tokens there, moto's identifiers
in the local cloud) comes in as `LambdaResources`; everything else is derived from `ServiceConfig`.
The end users' identity pool and role (`stacks.end_users.EndUsers.tell`) and the pack queue's URL
(`stacks.pack_runner`: the generations function and the runner itself) are added on top, by the stacks
with `add_environment` and by the local cloud alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from avatar_contract.moderation import ENV_VAR as MODERATION_POLICY
from avatar_contract.names import Env
from stacks.config import POWERTOOLS_ENVIRONMENT, ServiceConfig


@dataclass(frozen=True)
class LambdaResources:
    """Identifiers of deployed resources the functions are told about."""

    data_bucket: str
    hosting_bucket: str
    owner_key_secret: str = ""  # the owner-id key's secret ARN (API functions, status consumer)
    training_endpoint: str = ""
    hosting_endpoint: str = ""
    events_topic_arn: str = ""  # the status consumer's training events topic
    status_events_queue_url: str = ""  # where the model publisher forwards each notification
    operator_packs: str = ""  # the operator packs file, relative to the code root (docs/packs.md)
    # The pack queue: the stacks add it with `add_environment` once the queue exists (stacks.pack_runner)
    pack_queue_url: str = ""


def api_environment(config: ServiceConfig, resources: LambdaResources) -> dict[str, str]:
    """The API functions' environment (stacks/api.py: one per `avatar_contract.routes.FUNCTIONS`)."""
    env = {
        # The name itself, not a token: the policy goes into the environment as JSON text.
        MODERATION_POLICY: config.moderation_policy(config.moderation_deny_list_parameter_name).to_json(),
        Env.DATA_BUCKET: resources.data_bucket,
        Env.HOSTING_BUCKET: resources.hosting_bucket,
        Env.OWNER_KEY_SECRET: resources.owner_key_secret,
        Env.TRAINING_ENDPOINT: resources.training_endpoint,
        Env.HOSTING_ENDPOINT: resources.hosting_endpoint,
        Env.TRAINING_INSTANCE_TYPE: config.training_instance_type,
        Env.HOSTING_INSTANCE_TYPE: config.hosting_instance_type,
        Env.STATE_TABLE: config.state_table_name,  # known name: no cross-stack export
        Env.BASE_FAMILY: str(config.base_model),  # cdk.json baseModel (avatar_contract.families)
        **config.quota_environment(),
        **config.webhook_environment(),
        **POWERTOOLS_ENVIRONMENT,
    }
    if resources.operator_packs:  # GET /packs lists them (docs/packs.md)
        env[Env.OPERATOR_PACKS] = resources.operator_packs
    if resources.pack_queue_url:
        env[Env.PACK_QUEUE_URL] = resources.pack_queue_url
    return env


def status_events_environment(config: ServiceConfig, resources: LambdaResources) -> dict[str, str]:
    """The status consumer's environment (stacks/training_events.py)."""
    return {
        Env.DATA_BUCKET: resources.data_bucket,
        Env.HOSTING_BUCKET: resources.hosting_bucket,
        # Read only to sign webhooks (the owner's secret derives from it; avatar_api.identity).
        Env.OWNER_KEY_SECRET: resources.owner_key_secret,
        Env.EVENTS_TOPIC_ARN: resources.events_topic_arn,
        # The consumer gives a finished training's concurrency slot back (avatar_api.quotas).
        Env.STATE_TABLE: config.state_table_name,
        **config.webhook_environment(),
        **POWERTOOLS_ENVIRONMENT,
    }


def publisher_environment(config: ServiceConfig, resources: LambdaResources) -> dict[str, str]:
    """The model publisher's environment (stacks/publisher.py)."""
    del config  # every value comes from deployed resources; the signature matches its siblings
    return {
        Env.DATA_BUCKET: resources.data_bucket,
        Env.HOSTING_BUCKET: resources.hosting_bucket,
        # The status consumer's queue: each notification goes on there after the verdict.
        Env.STATUS_EVENTS_QUEUE_URL: resources.status_events_queue_url,
        **POWERTOOLS_ENVIRONMENT,
    }


def pack_runner_environment(config: ServiceConfig, resources: LambdaResources) -> dict[str, str]:
    """The pack runner's environment (stacks/pack_runner.py)."""
    queue = {Env.PACK_QUEUE_URL: resources.pack_queue_url} if resources.pack_queue_url else {}
    return {
        **queue,
        MODERATION_POLICY: config.moderation_policy(config.moderation_deny_list_parameter_name).to_json(),
        Env.DATA_BUCKET: resources.data_bucket,
        Env.HOSTING_BUCKET: resources.hosting_bucket,
        Env.OWNER_KEY_SECRET: resources.owner_key_secret,  # signs webhooks (avatar_api.identity)
        Env.HOSTING_ENDPOINT: resources.hosting_endpoint,
        Env.HOSTING_INSTANCE_TYPE: config.hosting_instance_type,
        Env.STATE_TABLE: config.state_table_name,
        Env.EVENTS_TOPIC_ARN: resources.events_topic_arn,
        **config.quota_environment(),
        **config.webhook_environment(),
        **POWERTOOLS_ENVIRONMENT,
    }
