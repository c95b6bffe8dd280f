"""The stateless service stack: status fan-out, both SageMaker endpoints, the API and monitoring."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.api import Api
from stacks.base_model import StagedBaseModel
from stacks.config import ServiceConfig
from stacks.end_users import EndUsers
from stacks.hosting_endpoint import HostingEndpoint
from stacks.monitoring import Monitoring
from stacks.pack_runner import PackRunnerFunction
from stacks.publisher import ModelPublisher
from stacks.service_refs import ServiceRefs
from stacks.state_table import StateTable, StateTableRefs
from stacks.status import TrainingStatus
from stacks.storage import Storage, StorageRefs
from stacks.training_endpoint import TrainingEndpoint
from stacks.training_events import TrainingEvents


class ServiceStack(Stack):
    """Everything that can be deleted and recreated without losing user data."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ServiceConfig,
        storage: Storage,
        owner_key: secretsmanager.ISecret,
        state: StateTable,
        training_base_image: str,
        hosting_base_image: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        storage_refs = StorageRefs.import_into(self, storage, config)
        self.status = TrainingStatus(self, "Status", config=config)
        self.base_model = StagedBaseModel(self, config, storage_refs)
        state_refs = StateTableRefs.import_into(self, state, config)
        refs = ServiceRefs(config, storage_refs, state_refs, self.status, owner_key, self.base_model)
        self.training = TrainingEndpoint(self, "Training", refs, base_image=training_base_image)
        self.hosting = HostingEndpoint(self, "Hosting", refs, base_image=hosting_base_image)
        self.api = Api(self, "Api", refs, training=self.training, hosting=self.hosting)
        if config.enable_end_users:  # its stack outputs: UserPoolId, UserPoolClientId, IdentityPoolId
            self.end_users = EndUsers(self, "EndUsers", config=config, api=self.api.rest_api)
            self.end_users.tell(self.api.functions.values())
        self.events = TrainingEvents(self, "Events", refs)
        self.publisher = ModelPublisher(self, "Publisher", refs, events_queue=self.events.queue)
        self.packs = PackRunnerFunction(
            self,
            "Packs",
            refs,
            hosting=self.hosting,
            events_topic=self.events.topic,
            moderation=self.api.moderation,
        )
        self.packs.grant_api(self.api.functions, storage_refs, state_refs, config)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            api=self.api,
            training=self.training,
            hosting=self.hosting,
            status=self.status,
            consumers=(self.events, self.publisher, self.packs),
        )

        outputs = {
            "ApiUrl": (self.api.url, "Base URL of the REST API (SigV4, service execute-api)"),
            "StatusQueueUrl": (self.status.queue.queue_url, "Training status queue: SageMaker notifications"),
            "StatusQueueArn": (self.status.queue.queue_arn, "Training status queue ARN"),
            "StatusConsumePolicyArn": (
                self.status.consume_policy.managed_policy_arn,
                "Attach to a client app's role to let it consume the status queue",
            ),
            "SuccessTopicArn": (self.status.success_topic.topic_arn, "SageMaker async success notifications"),
            "ErrorTopicArn": (self.status.error_topic.topic_arn, "SageMaker async error notifications"),
            "TrainingEventsTopicArn": (
                self.events.topic.topic_arn,
                "Training events per owner (docs/events.md)",
            ),
            "TrainingEventsSubscribePolicyArn": (
                self.events.subscribe_policy.managed_policy_arn,
                "Attach to a client app's role to let it subscribe (with a filter policy) to training events",
            ),
            "PackQueueUrl": (
                self.packs.queue.queue_url,
                "Pack work queue: one item per image (docs/packs.md)",
            ),
            "TrainingEndpointName": (self.training.endpoint_name, "Asynchronous training endpoint"),
            "HostingEndpointName": (self.hosting.endpoint_name, "Multi-model hosting endpoint"),
            "AlarmTopicArn": (self.monitoring.alarm_topic.topic_arn, "Alarm notifications"),
            "ModelDataUrl": (storage_refs.model_data_url, "ModelDataUrl of the multi-model endpoint"),
            "DashboardName": (config.dashboard_name, "CloudWatch dashboard"),
            "BaseModelUri": (
                self.base_model.uri,
                "Staged base model the endpoints load (make stage-base-model)",
            ),
        }
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)
