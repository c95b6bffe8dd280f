"""Physical names of the deployment's resources, derived from `resourcePrefix` (standard library only).

The CDK app and the local cloud both name their endpoints, topics, queues and functions through this
mixin of `stacks.config.ServiceConfig`, so the two cannot drift.
"""

from __future__ import annotations

VARIANT_NAME = "AllTraffic"  # production variant name of both endpoints


class _Named:
    """A read-only attribute of `ResourceNames` whose value is `<prefix>-<suffix>`."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix

    def __get__(self, names: ResourceNames, owner: type | None = None) -> str:
        return names.name(self.suffix)


class ResourceNames:
    """`<prefix>-<suffix>` names; mixed into `ServiceConfig`, which supplies `resource_prefix`."""

    resource_prefix: str

    def name(self, suffix: str) -> str:
        """`<prefix>-<suffix>`: the naming scheme of every named resource."""
        return f"{self.resource_prefix}-{suffix}"

    training_endpoint_name = _Named("training")
    hosting_endpoint_name = _Named("hosting")
    training_success_topic_name = _Named("training-success")
    training_error_topic_name = _Named("training-error")
    status_queue_name = _Named("training-status")
    status_dead_letter_queue_name = _Named("training-status-dlq")
    alarm_topic_name = _Named("alarms")
    # The status consumer (docs/events.md): its queue on the success/error topics, and the events topic.
    training_events_topic_name = _Named("training-events")
    status_events_queue_name = _Named("status-events")
    status_events_dead_letter_queue_name = _Named("status-events-dlq")
    status_events_function_name = _Named("status-events")
    # The model publisher (issue 21 M1): its queue on the success topic, its function, and its role,
    # whose fixed name the hosting bucket's policy names as the only writer of `models/*`.
    model_publisher_queue_name = _Named("model-publisher")
    model_publisher_dead_letter_queue_name = _Named("model-publisher-dlq")
    model_publisher_function_name = _Named("model-publisher")
    model_publisher_role_name = _Named("model-publisher")
    # The pack runner (docs/packs.md): its work queue, dead-letter queue and function.
    pack_queue_name = _Named("pack-work")
    pack_dead_letter_queue_name = _Named("pack-work-dlq")
    pack_runner_function_name = _Named("pack-runner")
    api_name = _Named("api")
    dashboard_name = _Named("dashboard")
    # DynamoDB: per-owner quotas and idempotency records (names are per account and region).
    state_table_name = _Named("state")
    # The buckets' names where names are free to choose (the local cloud). On AWS, CloudFormation
    # generates globally unique bucket names; code always reads them from `Env.DATA_BUCKET` and
    # `Env.HOSTING_BUCKET`.
    data_bucket_name = _Named("data")
    hosting_bucket_name = _Named("hosting")

    @property
    def moderation_deny_list_parameter_name(self) -> str:
        """SSM parameter holding the prompt deny list (docs/moderation.md)."""
        return f"/{self.resource_prefix}/moderation/deny-list"

    def function_name(self, function: str) -> str:
        """Physical Lambda function name for an `avatar_contract.routes.Function.name`."""
        return self.name(function)

    @property
    def variant_name(self) -> str:
        """Production variant name of both endpoints."""
        return VARIANT_NAME
