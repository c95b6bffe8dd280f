"""Pieces both SageMaker endpoints share: the container image asset, a scoped execution role, the
endpoint ARN/name helpers, and `SageMakerEndpoint`, the construct both endpoints build on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.config import ServiceConfig
from stacks.config_names import VARIANT_NAME
from stacks.gpu_runtime import variant_runtime
from stacks.log_groups import encrypted_log_group
from stacks.nag import acknowledge
from stacks.service_principals import bind_trust, trusted_service

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent


def container_image(
    scope: Construct, construct_id: str, *, dockerfile: str, base_image: str
) -> ecr_assets.DockerImageAsset:
    """A Docker image built at deploy time from the repository root (the root `.dockerignore` admits
    only what images need) with `dockerfile`, FROM `base_image` (a SageMaker image, see base_images)."""
    return ecr_assets.DockerImageAsset(
        scope,
        construct_id,
        directory=str(REPOSITORY_ROOT),
        file=dockerfile,
        build_args={"BASE_IMAGE": base_image},
        platform=ecr_assets.Platform.LINUX_AMD64,
    )


def execution_role(
    scope: Construct,
    construct_id: str,
    *,
    endpoint_name: str,
    image: ecr_assets.DockerImageAsset,
) -> iam.Role:
    """A role SageMaker assumes for one endpoint: pull its image, write its own log group. Callers add
    the endpoint's S3/KMS/SNS grants."""
    stack = Stack.of(scope)
    role = iam.Role(
        scope,
        construct_id,
        assumed_by=trusted_service(scope, "sagemaker.amazonaws.com", "sagemaker", "*"),
        description=f"Execution role of the SageMaker endpoint {endpoint_name}",
    )
    image.repository.grant_pull(role)
    log_group_arn = stack.format_arn(
        service="logs",
        resource="log-group",
        resource_name=f"/aws/sagemaker/Endpoints/{endpoint_name}",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=[
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogStreams",
            ],
            resources=[log_group_arn, f"{log_group_arn}:*"],
        )
    )
    # Allowed metric namespaces only; PutMetricData has no resource-level permissions.
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={
                "StringEquals": {"cloudwatch:namespace": ["/aws/sagemaker/Endpoints", "AvatarService"]}
            },
        )
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        "ecr:GetAuthorizationToken and cloudwatch:PutMetricData (and, with trainingVpcOnly, the "
        "ec2:Describe* calls SageMaker makes to place the instances in the VPC) support no resource-level "
        "permissions "
        "(PutMetricData is limited to the endpoint's namespaces by condition).",
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
        f"/aws/sagemaker/Endpoints/{endpoint_name}:*]",
        "Log streams of the endpoint's own log group; SageMaker chooses their names.",
    )
    return role


def endpoint_log_group(scope: Construct, config: ServiceConfig, endpoint_name: str) -> logs.LogGroup:
    """SageMaker writes to `/aws/sagemaker/Endpoints/<name>`; creating it here sets its retention."""
    return encrypted_log_group(
        scope, "Logs", config, log_group_name=f"/aws/sagemaker/Endpoints/{endpoint_name}"
    )


def endpoint_arn(scope: Construct, endpoint_name: str) -> str:
    return Stack.of(scope).format_arn(
        service="sagemaker", resource="endpoint", resource_name=endpoint_name.lower()
    )


class SageMakerEndpoint(Construct):
    """An endpoint's image (`image`: "training" or "hosting", built from containers/<image>/Dockerfile FROM
    `base_image`) and execution role; subclasses add their grants and model, then `_create_endpoint` and
    `_scalable_target`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        image: str,
        base_image: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.endpoint_name = endpoint_name
        self.variant_name = VARIANT_NAME
        self.image_name = image
        self.image = container_image(
            self, "Image", dockerfile=f"containers/{image}/Dockerfile", base_image=base_image
        )
        self.role = execution_role(self, "ExecutionRole", endpoint_name=endpoint_name, image=self.image)

    def _create_model(
        self, vpc_config: sagemaker.CfnModel.VpcConfigProperty | None = None, **container: Any
    ) -> sagemaker.CfnModel:
        """The SageMaker model: this endpoint's image, run as its execution role (in `vpc_config`'s
        subnets when given)."""
        model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=self.image.image_uri, **container
            ),
            vpc_config=vpc_config,
        )
        # SageMaker checks at CreateModel that the role can pull the image.
        model.node.add_dependency(self.role)
        return model

    def _create_endpoint(
        self,
        config: ServiceConfig,
        model: sagemaker.CfnModel,
        *,
        instance_type: str,
        initial_instance_count: int,
        ami_key: str,
        ami: str,
        model_data_download: bool,
        **endpoint_config: Any,
    ) -> None:
        """The endpoint, with its log group, and its configuration: one production variant running `model` on
        `instance_type`, with the inference AMI `ami` (cdk.json `ami_key`) checked against this endpoint's
        image and the startup timeouts (gpu_runtime.variant_runtime); `endpoint_config`: the rest of
        `CfnEndpointConfig`'s properties."""
        config_resource = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=self.variant_name,
                    model_name=model.attr_model_name,
                    instance_type=instance_type,
                    initial_instance_count=initial_instance_count,
                    **variant_runtime(
                        ami_key, ami, instance_type, self.image_name, model_data_download=model_data_download
                    ),
                )
            ],
            **endpoint_config,
        )
        self.log_group = endpoint_log_group(self, config, self.endpoint_name)
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=self.endpoint_name,
            endpoint_config_name=config_resource.attr_endpoint_config_name,
        )
        self.endpoint_arn = endpoint_arn(self, self.endpoint_name)

    def _scalable_target(
        self,
        min_capacity: int,
        max_capacity: int,
        *,
        tracking: str,
        target_value: float,
        metric: cloudwatch.IMetric,
        scale_out_cooldown: Duration,
    ) -> appscaling.ScalableTarget:
        """The variant's instance count as an Application Auto Scaling target (after the endpoint) with the
        target-tracking policy `tracking` that keeps `metric` at `target_value`; it scales in after 10 quiet
        minutes, out after `scale_out_cooldown`."""
        self.scalable_target = appscaling.ScalableTarget(
            self,
            "ScalableTarget",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint_name}/variant/{self.variant_name}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=min_capacity,
            max_capacity=max_capacity,
        )
        self.scalable_target.node.add_dependency(self.endpoint)
        bind_trust(self.scalable_target.role, "application-autoscaling", "scalable-target/*")
        self.scalable_target.scale_to_track_metric(
            tracking,
            target_value=target_value,
            custom_metric=metric,
            scale_in_cooldown=Duration.minutes(10),
            scale_out_cooldown=scale_out_cooldown,
        )
        return self.scalable_target

    def _grant(self, grantee: iam.IGrantable, action: str) -> None:
        iam.Grant.add_to_principal(grantee=grantee, actions=[action], resource_arns=[self.endpoint_arn])
