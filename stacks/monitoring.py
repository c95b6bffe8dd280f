"""Monitoring (issue point 7): one CloudWatch dashboard over the nine steps and alarms that notify an
encrypted alarm topic (plus an optional e-mail subscription from context `alarmEmail`)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.api import Api
from stacks.config import ServiceConfig
from stacks.hosting_endpoint import HostingEndpoint
from stacks.queue_consumer import QueueConsumer
from stacks.service_principals import source_conditions
from stacks.status import TrainingStatus
from stacks.training_endpoint import TrainingEndpoint


class Monitoring(Construct):
    """Dashboard (API 4xx/5xx/latency, Lambda errors/duration, async backlog and failures, MME model
    loading, cache hits, loaded models, GPU utilisation) and alarms on the failure signals."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ServiceConfig,
        api: Api,
        training: TrainingEndpoint,
        hosting: HostingEndpoint,
        status: TrainingStatus,
        consumers: Sequence[QueueConsumer] = (),
    ) -> None:
        """`consumers`: the queue consumers (status events, model publisher, pack runner), two alarms each."""
        super().__init__(scope, construct_id)
        self.alarm_topic = sns.Topic(
            self,
            "AlarmTopic",
            topic_name=config.alarm_topic_name,
            display_name="Avatar service alarms",
            master_key=status.key,
            enforce_ssl=True,
        )
        # CloudWatch alarms publish to an encrypted topic only if the key lets CloudWatch use it.
        status.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=source_conditions(self, "cloudwatch", "alarm:*"),  # this account's alarms
            )
        )
        if config.alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        action = cw_actions.SnsAction(self.alarm_topic)

        rest = api.rest_api
        five_min = Duration.minutes(5)
        api_4xx = rest.metric_client_error(period=five_min, statistic="Sum")
        api_5xx = rest.metric_server_error(period=five_min, statistic="Sum")
        api_latency = rest.metric_latency(period=five_min, statistic="p90")
        fn_errors = {
            name: fn.metric_errors(period=five_min, statistic="Sum") for name, fn in api.functions.items()
        }
        fn_duration = {
            name: fn.metric_duration(period=five_min, statistic="p90") for name, fn in api.functions.items()
        }
        backlog = training.metric("ApproximateBacklogSize")
        backlog_without_capacity = training.metric("HasBacklogWithoutCapacity", "Maximum")
        failed = training.metric("InvocationFailures", "Sum").with_(period=five_min)
        training_gpu = cloudwatch.Metric(
            namespace="/aws/sagemaker/Endpoints",
            metric_name="GPUUtilization",
            dimensions_map={"EndpointName": training.endpoint_name, "VariantName": config.variant_name},
            statistic="Average",
            period=Duration.minutes(1),
        )
        dlq_depth = status.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=five_min, statistic="Maximum"
        )

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=config.dashboard_name)
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="API errors", left=[api_4xx, api_5xx], width=8),
            cloudwatch.GraphWidget(title="API latency (p90)", left=[api_latency], width=8),
            cloudwatch.GraphWidget(title="Lambda errors", left=list(fn_errors.values()), width=8),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Lambda duration (p90)", left=list(fn_duration.values()), width=8),
            cloudwatch.GraphWidget(
                title="Training queue",
                left=[backlog, training.metric("ApproximateBacklogSizePerInstance")],
                right=[backlog_without_capacity],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Training failures and status DLQ", left=[failed], right=[dlq_depth], width=8
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Model loading wait (MME)",
                left=[hosting.metric("ModelLoadingWaitTime", "p90")],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="Model cache hits (MME)", left=[hosting.metric("ModelCacheHit")], width=6
            ),
            cloudwatch.GraphWidget(
                title="Loaded models (MME)", left=[hosting.metric("LoadedModelCount", "Maximum")], width=6
            ),
            cloudwatch.GraphWidget(
                title="GPU utilisation",
                left=[hosting.instance_metric("GPUUtilization"), training_gpu],
                width=6,
            ),
        )

        alarms = {
            "Api5xx": (api_5xx, 5, "The API answered 5xx more than 5 times in 5 minutes."),
            "ApiLatency": (
                api_latency,
                20_000,
                "API p90 latency is above 20 s (the gateway gives up at 29 s).",
            ),
            "TrainingFailures": (failed, 1, "A training invocation failed."),
            "StatusDeadLetters": (dlq_depth, 1, "Training status messages reached the dead-letter queue."),
            **{name: alarm for consumer in consumers for name, alarm in consumer.alarms(five_min).items()},
            "HostingErrors": (
                hosting.metric("Invocation5XXErrors", "Sum"),
                5,
                "The hosting endpoint answered 5xx more than 5 times in 5 minutes.",
            ),
        }
        for name, fn_metric in fn_errors.items():
            alarms[f"{name.title()}FunctionErrors"] = (fn_metric, 1, f"The {name} function raised errors.")
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for alarm_id, (metric, threshold, description) in alarms.items():
            alarm = cloudwatch.Alarm(
                self,
                alarm_id,
                alarm_name=config.name(_kebab(alarm_id)),
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            alarm.add_alarm_action(action)
            self.alarms[alarm_id] = alarm


def _kebab(name: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-").replace("5xx", "5xx")
