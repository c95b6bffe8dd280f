"""Physical names of the deployment's resources, derived from `resourcePrefix` (standard library only).

The CDK app and the local cloud both name their endpoints, topics, queues and functions through this
mixin of `stacks.config.ServiceConfig`, so the two cannot drift.
"""

from __future__ import annotations

VARIANT_NAME = "AllTraffic"  # production variant name of both endpoints


class ResourceNames:
    """`<prefix>-<suffix>` names; mixed into `ServiceConfig`, which supplies `resource_prefix`."""

    resource_prefix: str

    def name(self, suffix: str) -> str:
        """`<prefix>-<suffix>`: the naming scheme of every named resource."""
        return f"{self.resource_prefix}-{suffix}"

    @property
    def training_endpoint_name(self) -> str:
        return self.name("training")

    @property
    def hosting_endpoint_name(self) -> str:
        return self.name("hosting")

    @property
    def training_success_topic_name(self) -> str:
        return self.name("training-success")

    @property
    def training_error_topic_name(self) -> str:
        return self.name("training-error")

    @property
    def status_queue_name(self) -> str:
        return self.name("training-status")

    @property
    def status_dead_letter_queue_name(self) -> str:
        return self.name("training-status-dlq")

    @property
    def alarm_topic_name(self) -> str:
        return self.name("alarms")

    @property
    def api_name(self) -> str:
        return self.name("api")

    @property
    def dashboard_name(self) -> str:
        return self.name("dashboard")

    @property
    def moderation_deny_list_parameter_name(self) -> str:
        """SSM parameter holding the prompt deny list (docs/moderation.md)."""
        return f"/{self.resource_prefix}/moderation/deny-list"

    def function_name(self, function: str) -> str:
        """Physical Lambda function name for an `avatar_contract.routes.Function.name`."""
        return self.name(function)

    @property
    def data_bucket_name(self) -> str:
        """Bucket name where names are free to choose (the local cloud). On AWS, CloudFormation
        generates globally unique bucket names; code always reads them from `Env.DATA_BUCKET`."""
        return self.name("data")

    @property
    def hosting_bucket_name(self) -> str:
        """See `data_bucket_name`; on AWS the name comes from `Env.HOSTING_BUCKET`."""
        return self.name("hosting")

    @property
    def variant_name(self) -> str:
        """Production variant name of both endpoints."""
        return VARIANT_NAME
