"""Points 4 and 6: the asynchronous training endpoint (scaling from zero) and the Triton multi-model
hosting endpoint."""

from __future__ import annotations

from typing import Any

from avatar_contract.names import Env, Runtime
from stacks.base_images import hosting_base_image, training_base_image
from stacks.base_model import load_manifest
from stacks.config import ServiceConfig
from tests.infrastructure.conftest import Synth
from tests.infrastructure.helpers import of_type, one, text

DEFAULT_DIGEST = load_manifest(ServiceConfig()).digest


def test_training_model_uses_the_training_image_and_environment(service: dict[str, Any]) -> None:
    container = one(service, "AWS::SageMaker::Model", "TrainingModel")["PrimaryContainer"]
    assert "container-assets" in text(container["Image"])
    env = container["Environment"]
    assert text(env[Env.BASE_MODEL]).endswith(f'/base-models/{DEFAULT_DIGEST}/"]]}}')
    assert "avatar-data-" in text(env[Env.DATA_BUCKET])
    assert "avatar-hosting-" in text(env[Env.HOSTING_BUCKET])


def test_training_endpoint_is_asynchronous_with_both_topics(service: dict[str, Any]) -> None:
    config = one(service, "AWS::SageMaker::EndpointConfig", "TrainingEndpointConfig")
    [variant] = config["ProductionVariants"]
    assert variant["InstanceType"] == "ml.g5.2xlarge"
    assert "KmsKeyId" not in config  # g5 instance storage rejects a volume key (docs/design.md §5)
    async_config = config["AsyncInferenceConfig"]
    assert (
        async_config["ClientConfig"]["MaxConcurrentInvocationsPerInstance"]
        == Runtime.ASYNC_MAX_CONCURRENT_INVOCATIONS_PER_INSTANCE
        == 1
    )
    output = async_config["OutputConfig"]
    assert text(output["S3OutputPath"]).endswith('/async-outputs/"]]}')
    assert text(output["S3FailurePath"]).endswith('/async-failures/"]]}')
    assert "DataKey" in text(output["KmsKeyId"])
    notification = output["NotificationConfig"]
    assert "StatusSuccessTopic" in text(notification["SuccessTopic"])
    assert "StatusErrorTopic" in text(notification["ErrorTopic"])
    endpoint = one(service, "AWS::SageMaker::Endpoint", "TrainingEndpoint")
    assert endpoint["EndpointName"] == "avatar-training"


def test_training_scales_from_zero_with_both_policies(service: dict[str, Any]) -> None:
    target = one(service, "AWS::ApplicationAutoScaling::ScalableTarget", "TrainingScalableTarget")
    assert target["MinCapacity"] == 0
    assert target["MaxCapacity"] == 2
    assert target["ResourceId"] == "endpoint/avatar-training/variant/AllTraffic"
    policies = [
        v["Properties"]
        for k, v in of_type(service, "AWS::ApplicationAutoScaling::ScalingPolicy").items()
        if k.startswith("Training")
    ]
    tracking = [p for p in policies if p["PolicyType"] == "TargetTrackingScaling"]
    step = [p for p in policies if p["PolicyType"] == "StepScaling"]
    assert len(tracking) == 1 and len(step) == 1
    metric = tracking[0]["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
    assert metric["MetricName"] == "ApproximateBacklogSizePerInstance"
    assert step[0]["StepScalingPolicyConfiguration"]["StepAdjustments"][0]["ScalingAdjustment"] == 1
    alarms = [
        v["Properties"]
        for v in of_type(service, "AWS::CloudWatch::Alarm").values()
        if v["Properties"].get("MetricName") == "HasBacklogWithoutCapacity"
    ]
    assert len(alarms) == 1
    assert "ScaleOutFromZero" in text(alarms[0]["AlarmActions"])


def test_hosting_model_is_multi_model_on_the_models_prefix(service: dict[str, Any]) -> None:
    container = one(service, "AWS::SageMaker::Model", "HostingModel")["PrimaryContainer"]
    assert container["Mode"] == "MultiModel"
    assert text(container["ModelDataUrl"]).startswith('{"Fn::Join": ["", ["s3://avatar-hosting-')
    assert text(container["ModelDataUrl"]).endswith('/models/"]]}')
    assert text(container["Environment"][Env.BASE_MODEL]).endswith(f'/base-models/{DEFAULT_DIGEST}/"]]}}')
    config = one(service, "AWS::SageMaker::EndpointConfig", "HostingEndpointConfig")
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.g5.xlarge"
    assert one(service, "AWS::SageMaker::Endpoint", "HostingEndpoint")["EndpointName"] == "avatar-hosting"


def test_hosting_autoscaling_tracks_gpu_utilisation(service: dict[str, Any]) -> None:
    target = one(service, "AWS::ApplicationAutoScaling::ScalableTarget", "HostingScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 2)
    policy = one(service, "AWS::ApplicationAutoScaling::ScalingPolicy", "HostingScalableTargetGpu")
    configuration = policy["TargetTrackingScalingPolicyConfiguration"]
    assert configuration["TargetValue"] == 70
    assert configuration["CustomizedMetricSpecification"]["MetricName"] == "GPUUtilization"
    assert configuration["CustomizedMetricSpecification"]["Namespace"] == "/aws/sagemaker/Endpoints"


def test_images_build_from_the_repository_root_with_sagemaker_base_images(synth: Synth) -> None:
    import json

    assets = json.loads((synth.outdir / "AvatarService.assets.json").read_text())["dockerImages"]
    sources = {a["source"]["dockerFile"]: a["source"] for a in assets.values()}
    assert set(sources) == {"containers/training/Dockerfile", "containers/hosting/Dockerfile"}
    assert sources["containers/training/Dockerfile"]["dockerBuildArgs"] == {
        "BASE_IMAGE": training_base_image("us-east-1")
    }
    assert sources["containers/hosting/Dockerfile"]["dockerBuildArgs"] == {
        "BASE_IMAGE": hosting_base_image("us-east-1")
    }
    for source in sources.values():
        staged = synth.outdir / source["directory"]
        assert (staged / source["dockerFile"]).is_file()
        # the root .dockerignore keeps the build context small
        assert not (staged / ".venv").exists() and not (staged / "node_modules").exists()
        assert (staged / "avatar_contract").is_dir() and (staged / "avatar_runtime").is_dir()
