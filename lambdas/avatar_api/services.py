"""The domain's `Services` (avatar_api.domain.services), built once per Lambda container from the
environment.

Tests and the local cloud swap them with `use_services` (e.g. buckets on moto, a stubbed runtime)."""

from __future__ import annotations

from avatar_api.adapters.aws import (
    Bucket,
    HostingEndpointClient,
    TrainingEndpointClient,
    dynamodb_client,
    runtime_client,
    s3_client,
)
from avatar_api.adapters.idempotency import Submissions
from avatar_api.adapters.messaging import EventsTopic, WorkQueue
from avatar_api.adapters.owner_ids import OwnerIds
from avatar_api.adapters.quotas import QuotaLimits, Quotas
from avatar_api.adapters.webhooks import WebhookSender
from avatar_api.domain.moderation import Moderator
from avatar_api.domain.services import Services
from avatar_api.settings import GENERATION_BUDGET_SECONDS, Settings


def services_from_settings(settings: Settings) -> Services:
    """The deployed resources named by the function's environment (`Settings.from_env`)."""
    s3, dynamodb = s3_client(), dynamodb_client()
    return Services(
        data=Bucket(settings.data_bucket, s3),
        hosting=Bucket(settings.hosting_bucket, s3),
        training_endpoint=TrainingEndpointClient(settings.training_endpoint, runtime_client()),
        hosting_endpoint=HostingEndpointClient(
            settings.hosting_endpoint,
            runtime_client(read_timeout=GENERATION_BUDGET_SECONDS),
            make_client=lambda seconds: runtime_client(read_timeout=seconds),
        ),
        owner_ids=OwnerIds.deferred(settings.owner_key_secret),
        quotas=Quotas(settings.state_table, dynamodb, QuotaLimits.from_env()),
        submissions=Submissions(settings.state_table, dynamodb),
        training_instance_type=settings.training_instance_type,
        hosting_instance_type=settings.hosting_instance_type,
        base_family=settings.base_family,
        moderation=Moderator.from_environment(),
        events=EventsTopic.from_arn(settings.events_topic_arn) if settings.events_topic_arn else None,
        webhooks=WebhookSender(),  # the product's rules; tests inject their own (tests/fixtures)
        pack_queue=WorkQueue.from_url(settings.pack_queue_url) if settings.pack_queue_url else None,
    )


_services: Services | None = None


def get_services() -> Services:
    global _services
    if _services is None:
        _services = services_from_settings(Settings.from_env())
    return _services


def use_services(services: Services | None) -> None:
    """Replace the services (None: rebuild from the environment on next use)."""
    global _services
    _services = services
