"""The resources the domain functions use, one `Services` per Lambda container: the adapters for S3,
SageMaker, DynamoDB, SNS/SQS, webhooks and moderation, and the deployment's choices (instance types, base
family). `avatar_api.services` builds it from the environment; tests and the local cloud swap it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from avatar_api.adapters.aws import Bucket, HostingEndpointClient, TrainingEndpointClient
from avatar_api.adapters.idempotency import PACK_KEY_PREFIX, Submissions
from avatar_api.adapters.messaging import EventsTopic, WorkQueue
from avatar_api.adapters.owner_ids import OwnerIds
from avatar_api.adapters.pack_state import PackState
from avatar_api.adapters.quotas import Quotas
from avatar_api.adapters.records import TrainingRecords
from avatar_api.adapters.webhook_secrets import WebhookSecrets
from avatar_api.adapters.webhooks import WebhookSender
from avatar_api.domain.moderation import Moderator
from avatar_contract.families import DEFAULT_FAMILY, FamilyName


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
