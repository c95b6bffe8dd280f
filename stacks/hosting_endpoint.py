"""Hosting endpoint (docs/design.md §2 step 9): a SageMaker multi-model endpoint on a single-GPU
instance running the Triton image; per-user models load from `s3://<hosting bucket>/models/`.

Autoscaling tracks average GPU utilisation rather than invocations per instance: one request may ask
for 1-4 images at 64-1024 px with 1-100 steps, so its GPU cost varies by two orders of magnitude and a
request count says little about load. GPU utilisation measures it directly on a single-GPU instance
(0-100 %), and model loads, which also keep the GPU busy, count too.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from avatar_contract.names import Prefix
from stacks.gpu_runtime import EXPECT_GPU_ENV, instance_has_gpu
from stacks.grants import grant_objects
from stacks.nag import acknowledge_object_prefixes
from stacks.sagemaker_common import SageMakerEndpoint
from stacks.service_refs import ServiceRefs
from stacks.storage import nag_bucket_name


class HostingEndpoint(SageMakerEndpoint):
    """Model in MultiModel mode + endpoint config + endpoint + GPU-utilisation autoscaling."""

    def __init__(self, scope: Construct, construct_id: str, refs: ServiceRefs, *, base_image: str) -> None:
        config, storage, base_model = refs.config, refs.storage, refs.base_model
        super().__init__(
            scope,
            construct_id,
            endpoint_name=config.hosting_endpoint_name,
            image="hosting",
            base_image=base_image,
        )
        grant_objects(self.role, storage.hosting_bucket, storage.hosting_key, [Prefix.MODELS], read=True)
        acknowledge_object_prefixes(
            self.role, nag_bucket_name(config, "hosting"), {Prefix.MODELS: "load per-user model artifacts."}
        )
        base_model.grant_read(self.role)

        model = self._create_model(
            mode="MultiModel",
            model_data_url=storage.model_data_url,
            environment={
                **base_model.environment,
                EXPECT_GPU_ENV: str(instance_has_gpu(config.hosting_instance_type)).lower(),
            },
            multi_model_config=sagemaker.CfnModel.MultiModelConfigProperty(model_cache_setting="Enabled"),
        )
        # No KmsKeyId: g5 (NVMe instance-store) instances reject a volume key (docs/design.md §5).
        self._create_endpoint(
            config,
            model,
            instance_type=config.hosting_instance_type,
            initial_instance_count=config.hosting_min_capacity,
            ami_key="hostingInferenceAmiVersion",
            ami=config.hosting_inference_ami_version,
            # No model-data download timeout: a multi-model endpoint loads user models on demand,
            # not at startup; the base model is fetched by the container during its health check.
            model_data_download=False,
        )

        self._scalable_target(
            config.hosting_min_capacity,
            config.hosting_max_capacity,
            tracking="GpuUtilizationTracking",
            target_value=config.hosting_gpu_utilization_target,
            metric=self.instance_metric("GPUUtilization"),
            scale_out_cooldown=Duration.minutes(3),
        )

    def instance_metric(self, name: str, statistic: str = "Average") -> cloudwatch.Metric:
        """Instance metrics (GPUUtilization, ...) in SageMaker's /aws/sagemaker/Endpoints namespace."""
        return self._variant_metric("/aws/sagemaker/Endpoints", name, statistic, Duration.minutes(1))

    def metric(self, name: str, statistic: str = "Average") -> cloudwatch.Metric:
        """Invocation and multi-model metrics (ModelLoadingWaitTime, ModelCacheHit, ...) in AWS/SageMaker."""
        return self._variant_metric("AWS/SageMaker", name, statistic, Duration.minutes(5))

    def _variant_metric(
        self, namespace: str, name: str, statistic: str, period: Duration
    ) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=namespace,
            metric_name=name,
            dimensions_map={"EndpointName": self.endpoint_name, "VariantName": self.variant_name},
            statistic=statistic,
            period=period,
        )

    def grant_invoke(self, grantee: iam.IGrantable) -> None:
        self._grant(grantee, "sagemaker:InvokeEndpoint")
