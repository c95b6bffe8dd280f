"""The AWS resources the domain functions use, built once per Lambda container from the environment.

Tests and the local cloud swap them with `use_services` (e.g. buckets on moto, a stubbed runtime)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from avatar_api.adapters.aws import (
    Bucket,
    HostingEndpointClient,
    TrainingEndpointClient,
    dynamodb_client,
    runtime_client,
    s3_client,
)
from avatar_api.adapters.idempotency import PACK_KEY_PREFIX, Submissions
from avatar_api.adapters.messaging import EventsTopic, WorkQueue
from avatar_api.adapters.owner_ids import OwnerIds
from avatar_api.adapters.pack_state import PackState
from avatar_api.adapters.quotas import QuotaLimits, Quotas
from avatar_api.adapters.records import TrainingRecords
from avatar_api.adapters.webhook_secrets import WebhookSecrets
from avatar_api.adapters.webhooks import WebhookSender
from avatar_api.settings import GENERATION_BUDGET_SECONDS, Settings
from avatar_contract.families import DEFAULT_FAMILY, FamilyName

if TYPE_CHECKING:
    from avatar_api.domain.moderation import Moderator


@dataclass
class Services:
    data: Bucket
    hosting: Bucket
    training_endpoint: TrainingEndpointClient
    hosting_endpoint: HostingEndpointClient
    owner_ids: OwnerIds
    # The state table: per-owner quotas, and the idempotency records of training submissions.
    quotas: Quotas
    submissions: Submissions
    # The endpoints' instance types, for the cost bounds (domain.limits); empty: not configured.
    training_instance_type: str = ""
    hosting_instance_type: str = ""
    # The base family both endpoints serve: training defaults and bounds, generation bounds, and the
    # family a model must have been trained on to generate (avatar_contract.families).
    base_family: FamilyName = DEFAULT_FAMILY
    moderation: Moderator | None = None  # None: no moderation (docs/moderation.md)
    events: EventsTopic | None = None  # the training events topic (only the status consumer publishes)
    webhooks: WebhookSender | None = None  # None: webhooks are recorded but not sent
    pack_queue: WorkQueue | None = None  # the pack runner's work queue (docs/packs.md)

    @property
    def records(self) -> TrainingRecords:
        """The training records, in the data bucket."""
        return TrainingRecords(self.data)

    def bucket(self, name: str) -> Bucket:
        """The data bucket, or another bucket by name on the same client (an async output elsewhere)."""
        return self.data if name == self.data.name else Bucket(name, self.data.client)

    @property
    def pack_state(self) -> PackState:
        """Pack jobs' counters, in the state table (avatar_api.adapters.pack_state)."""
        return PackState(self.quotas.table, self.quotas.client)

    @cached_property
    def pack_submissions(self) -> Submissions:
        """The idempotency records of pack jobs (`idempotency#packs#...`), in the state table."""
        return Submissions(self.quotas.table, self.quotas.client, key_prefix=PACK_KEY_PREFIX, what="pack")

    @property
    def webhook_secrets(self) -> WebhookSecrets:
        """Which generation of each owner's webhook secret is current (in the data bucket)."""
        return WebhookSecrets(self.data, self.owner_ids)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        from avatar_api.domain.moderation import Moderator

        s3, dynamodb = s3_client(), dynamodb_client()
        return cls(
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
        _services = Services.from_settings(Settings.from_env())
    return _services


def use_services(services: Services | None) -> None:
    """Replace the services (None: rebuild from the environment on next use)."""
    global _services
    _services = services
