"""Training endpoint (docs/design.md §2 step 3): a SageMaker asynchronous inference endpoint on a GPU
instance that runs one DreamBooth-LoRA training per invocation, scaling from zero."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from avatar_contract.names import Env, Prefix, Runtime
from avatar_contract.training_budget import TIME_BUDGET_ENV, TRAINING_TIME_BUDGET_SECONDS
from stacks.config import ServiceConfig
from stacks.gpu_runtime import EXPECT_GPU_ENV, instance_has_gpu
from stacks.grants import grant_objects
from stacks.nag import acknowledge, acknowledge_encrypted_publish, acknowledge_object_prefixes
from stacks.sagemaker_common import SageMakerEndpoint
from stacks.service_refs import ServiceRefs
from stacks.storage import nag_bucket_name
from stacks.training_network import TrainingNetwork

# What a training reads and writes below its own prefix (trainings/<owner>/<training_id>/): it never sees
# another training's selfies, records or staged models beyond its own input archive's name pattern.
TRAINING_INPUT = f"{Prefix.TRAININGS}*/*/input.tar.gz"
TRAINING_WRITES = [f"{Prefix.TRAININGS}*/*/{name}" for name in ("progress.json", "previews/", "staged/")]


class TrainingEndpoint(SageMakerEndpoint):
    """Model + async endpoint config + endpoint + autoscaling (min 0; backlog target tracking plus a
    step policy on HasBacklogWithoutCapacity, the only way out of zero instances)."""

    def __init__(self, scope: Construct, construct_id: str, refs: ServiceRefs, *, base_image: str) -> None:
        config, storage, status, base_model = refs.config, refs.storage, refs.status, refs.base_model
        super().__init__(
            scope,
            construct_id,
            endpoint_name=config.training_endpoint_name,
            image="training",
            base_image=base_image,
        )
        data, hosting = storage.data_bucket, storage.hosting_bucket
        # Read the input archive; write progress, previews and the staged model (never the hosting bucket:
        # the model publisher checks the staged model and writes models/*, issue 21 M1). SageMaker writes
        # async outputs/failures as this role.
        grant_objects(self.role, data, storage.data_key, [TRAINING_INPUT], read=True)
        grant_objects(self.role, data, storage.data_key, TRAINING_WRITES, write=True)
        grant_objects(
            self.role, data, storage.data_key, [Prefix.ASYNC_OUTPUTS, Prefix.ASYNC_FAILURES], write=True
        )
        status.grant_publish(self.role)
        acknowledge_encrypted_publish(self.role, "status topics")
        base_model.grant_read(self.role)
        # Prior-preservation class images, shared by every instance (read, and written on a miss).
        grant_objects(self.role, data, storage.data_key, [Prefix.CLASS_IMAGES], read=True, write=True)

        environment = {
            Env.DATA_BUCKET: data.bucket_name,
            Env.HOSTING_BUCKET: hosting.bucket_name,
            **base_model.environment,
            # The service refuses to train on CPU where the instance type has a GPU (docs/gpu-runtime.md).
            EXPECT_GPU_ENV: str(instance_has_gpu(config.training_instance_type)).lower(),
            # Stop before SageMaker's async invocation timeout (docs/limits-training.md).
            TIME_BUDGET_ENV: str(TRAINING_TIME_BUDGET_SECONDS),
        }
        vpc_config = None
        if config.training_vpc_only:  # no internet: isolated subnets, S3 through a gateway endpoint only
            self.network = TrainingNetwork(self, "Network", config=config, bucket=data)
            self.network.grant_attach(self.role)
            vpc_config = sagemaker.CfnModel.VpcConfigProperty(
                security_group_ids=[self.network.security_group.security_group_id],
                subnets=self.network.subnet_ids,
            )
            acknowledge(
                self.role,
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:"
                "network-interface/*]",
                "SageMaker creates and deletes the instances' network interfaces in the training subnets; "
                "their ids are made at run time.",
            )
        model = self._create_model(vpc_config=vpc_config, environment=environment)

        acknowledge_object_prefixes(
            self.role,
            nag_bucket_name(config, "data"),
            {
                TRAINING_INPUT: "read a training's input archive (SageMaker's InputLocation).",
                **{
                    prefix: "write the training's progress, previews and staged model."
                    for prefix in TRAINING_WRITES
                },
                Prefix.ASYNC_OUTPUTS: "SageMaker writes async results as this role.",
                Prefix.ASYNC_FAILURES: "SageMaker writes async failures as this role.",
                Prefix.CLASS_IMAGES: "read and cache prior-preservation class images.",
            },
        )

        self._create_endpoint(
            config,
            model,
            instance_type=config.training_instance_type,
            initial_instance_count=1,  # CreateEndpoint needs >= 1; autoscaling then goes to 0.
            ami_key="trainingInferenceAmiVersion",
            ami=config.training_inference_ami_version,
            model_data_download=True,
            # No KmsKeyId for the ML storage volume: g5 (and other NVMe instance-store) instances reject
            # one; their instance storage is hardware-encrypted (docs/design.md §5); outputs use KMS.
            async_inference_config=sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
                client_config=sagemaker.CfnEndpointConfig.AsyncInferenceClientConfigProperty(
                    max_concurrent_invocations_per_instance=Runtime.ASYNC_MAX_CONCURRENT_INVOCATIONS_PER_INSTANCE
                ),
                output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(
                    s3_output_path=data.s3_url_for_object(Prefix.ASYNC_OUTPUTS),
                    s3_failure_path=data.s3_url_for_object(Prefix.ASYNC_FAILURES),
                    kms_key_id=storage.data_key.key_arn,
                    notification_config=sagemaker.CfnEndpointConfig.AsyncInferenceNotificationConfigProperty(
                        success_topic=status.success_topic.topic_arn,
                        error_topic=status.error_topic.topic_arn,
                        include_inference_response_in=[
                            "SUCCESS_NOTIFICATION_TOPIC",
                            "ERROR_NOTIFICATION_TOPIC",
                        ],
                    ),
                ),
            ),
        )

        self._autoscale(config)

    def _metric(self, name: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/SageMaker",
            metric_name=name,
            dimensions_map={"EndpointName": self.endpoint_name},
            statistic="Average",
            period=Duration.minutes(1),
        )

    def _autoscale(self, config: ServiceConfig) -> None:
        target = self._scalable_target(
            0,
            config.training_max_capacity,
            tracking="BacklogTracking",
            target_value=config.training_backlog_per_instance,
            metric=self._metric("ApproximateBacklogSizePerInstance"),
            scale_out_cooldown=Duration.minutes(5),
        )
        # Target tracking cannot leave zero instances (the per-instance backlog is undefined there):
        # this step policy adds one instance when requests wait and no instance exists.
        scale_out = appscaling.StepScalingAction(
            self,
            "ScaleOutFromZero",
            scaling_target=target,
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            cooldown=Duration.minutes(5),
            metric_aggregation_type=appscaling.MetricAggregationType.AVERAGE,
        )
        scale_out.add_adjustment(adjustment=1, lower_bound=0)
        alarm = cloudwatch.Alarm(
            self,
            "HasBacklogWithoutCapacity",
            metric=self._metric("HasBacklogWithoutCapacity"),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description="Training requests are queued while the endpoint has no instance: scale out.",
        )
        alarm.add_alarm_action(cw_actions.ApplicationScalingAction(scale_out))

    def grant_invoke_async(self, grantee: iam.IGrantable) -> None:
        self._grant(grantee, "sagemaker:InvokeEndpointAsync")

    def metric(self, name: str, statistic: str = "Average") -> cloudwatch.Metric:
        return self._metric(name).with_(statistic=statistic)
