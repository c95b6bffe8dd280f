"""The endpoints' GPU runtime (issue 10 B): InferenceAmiVersion per endpoint, checked against the CUDA
each image needs (base image + locked torch); the startup timeouts; the training container's GPU flag."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.loaders import Loader

from stacks import base_images, gpu_runtime
from stacks.config import ConfigError, ServiceConfig
from tests.infrastructure.conftest import Synth
from tests.infrastructure.helpers import one

REPO = Path(__file__).resolve().parents[2]
SAMPLE_LOCK = Path(__file__).with_name("data") / "sample-cu13.lock"


def _sagemaker_model() -> dict[str, Any]:
    return Loader().load_service_model("sagemaker", "service-2")


def test_ami_names_are_botocores_enum() -> None:
    shapes = _sagemaker_model()["shapes"]
    enum_shape = shapes["ProductionVariant"]["members"]["InferenceAmiVersion"]["shape"]
    assert sorted(gpu_runtime.AMI_RUNTIMES) == sorted(shapes[enum_shape]["enum"])


def test_driver_and_cuda_of_each_ami_are_botocores_documentation() -> None:
    doc = _sagemaker_model()["shapes"]["ProductionVariant"]["members"]["InferenceAmiVersion"]["documentation"]
    text = re.sub(r"<[^>]+>", " ", doc)
    for name, runtime in gpu_runtime.AMI_RUNTIMES.items():
        entry = re.search(rf"{re.escape(name)}\s+(.*?)(?=al2\S*-ami-sagemaker|$)", text, re.S)
        assert entry, name
        driver = re.search(r"NVIDIA driver version:\s*(\d+)", entry[1])
        cuda = re.search(r"CUDA version:\s*(\d+\.\d+)", entry[1])
        assert (int(driver[1]) if driver else None) == runtime.driver, name
        assert (gpu_runtime.parse_cuda(cuda[1]) if cuda else None) == runtime.cuda, name


def test_the_default_ami_has_driver_580_and_cuda_13() -> None:
    assert gpu_runtime.DEFAULT_AMI == "al2023-ami-sagemaker-inference-gpu-4-1"
    assert gpu_runtime.ami_runtime(gpu_runtime.DEFAULT_AMI) == gpu_runtime.AmiRuntime(580, (13, 0))
    assert gpu_runtime.ami_runtime(None) == gpu_runtime.AmiRuntime(470, (11, 4))


def test_base_image_facts_describe_the_configured_base_images() -> None:
    """Bumping stacks/base_images.py's versions without updating base_image_cuda.json fails here."""
    facts = json.loads(gpu_runtime.BASE_IMAGE_CUDA_FILE.read_text())
    assert f"pytorch-inference {base_images.PYTORCH_VERSION} " in facts["training"]["image"]
    assert f"sagemaker-tritonserver {base_images.TRITON_VERSION}" in facts["hosting"]["image"]
    assert gpu_runtime.base_image_cuda("training") == (12, 4)
    assert gpu_runtime.base_image_cuda("hosting") == (13, 0)


# --- the lock parser ---------------------------------------------------------------------------------


def test_lock_parser_reads_the_cuda_runtime_pins() -> None:
    assert gpu_runtime.locked_torch_cuda(SAMPLE_LOCK.read_text()) == (13, 0)


@pytest.mark.parametrize(
    ("lock", "cuda"),
    [
        ("torch==2.6.0 \\\n    --hash=sha256:ab\nnvidia-cuda-runtime-cu12==12.4.127 \\\n", (12, 4)),
        ("nvidia_cuda_runtime_cu12==12.6.77\ntorch==2.7.1\n", (12, 6)),
        ("torch==2.6.0+cu124 \\\n    --hash=sha256:ab\n", (12, 4)),
        ("torch==2.6.0+cpu\n", None),
        ("torch==2.6.0\n", None),  # no CUDA pin: a CPU wheel
        ("nvidia-cuda-runtime==13.0.96\nnumpy==2.0.0\n", None),  # no torch in this image's lock
        ("# torch==2.6.0+cu124 in a comment\n", None),
    ],
)
def test_lock_parser_cases(lock: str, cuda: tuple[int, int] | None) -> None:
    assert gpu_runtime.locked_torch_cuda(lock) == cuda


def test_a_locked_torch_above_the_base_image_raises_the_need() -> None:
    need = gpu_runtime.cuda_need("training", SAMPLE_LOCK.read_text())
    assert (need.base_image, need.locked_torch, need.cuda) == ((12, 4), (13, 0), (13, 0))
    with pytest.raises(ConfigError, match=r"'trainingInferenceAmiVersion'.*needs CUDA 13\.0"):
        gpu_runtime.check_ami(
            "trainingInferenceAmiVersion",
            "al2-ami-sagemaker-inference-gpu-3-1",
            "training",
            SAMPLE_LOCK.read_text(),
        )


# --- the configured AMIs against what the committed images need ----------------------------------------

CONFIGURED = ServiceConfig.from_context(json.loads((REPO / "cdk.json").read_text())["context"])
AMI_OF = {
    "training": ("trainingInferenceAmiVersion", CONFIGURED.training_inference_ami_version),
    "hosting": ("hostingInferenceAmiVersion", CONFIGURED.hosting_inference_ami_version),
}


@pytest.mark.parametrize("image", gpu_runtime.IMAGES)
def test_configured_ami_runs_the_base_image(image: str) -> None:
    key, ami = AMI_OF[image]
    assert gpu_runtime.provides(ami, gpu_runtime.base_image_cuda(image)), (key, ami)


@pytest.mark.parametrize("image", gpu_runtime.IMAGES)
def test_configured_ami_runs_the_locked_torch(image: str) -> None:
    key, ami = AMI_OF[image]
    need = gpu_runtime.cuda_need(image)
    assert gpu_runtime.provides(ami, need.cuda), f"{key}={ami}: {need.describe()}"
    gpu_runtime.check_ami(key, ami, image)


def test_an_ami_below_an_images_cuda_is_rejected_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"'trainingInferenceAmiVersion'.*driver 535 / CUDA 12\.2"):
        gpu_runtime.check_ami(
            "trainingInferenceAmiVersion", "al2-ami-sagemaker-inference-gpu-2", "training", ""
        )
    with pytest.raises(
        ConfigError, match=r"'hostingInferenceAmiVersion'.*al2023-ami-sagemaker-inference-gpu-4-1"
    ):
        gpu_runtime.check_ami(
            "hostingInferenceAmiVersion", "al2-ami-sagemaker-inference-neuron-2", "hosting", ""
        )


def test_unknown_ami_is_rejected_by_the_parser() -> None:
    with pytest.raises(ConfigError, match="'hostingInferenceAmiVersion'"):
        ServiceConfig.from_context({"hostingInferenceAmiVersion": "al2-ami-sagemaker-inference-gpu-9"})


def test_synth_rejects_an_ami_below_the_hosting_images_cuda() -> None:
    from stacks.application import create_app

    with pytest.raises(ConfigError, match=r"'hostingInferenceAmiVersion'.*CUDA 12\.4"):
        create_app(
            {
                "aws:cdk:bundling-stacks": [],
                "hostingInferenceAmiVersion": "al2-ami-sagemaker-inference-gpu-3-1",
            }
        )


def test_cpu_instances_get_no_gpu_ami() -> None:
    properties = gpu_runtime.variant_runtime(
        "trainingInferenceAmiVersion", "al2-ami-sagemaker-inference-gpu-2", "ml.m5.xlarge", "training",
        model_data_download=True,
    )  # fmt: skip
    assert "inference_ami_version" not in properties
    assert gpu_runtime.instance_has_gpu("ml.g5.2xlarge") and gpu_runtime.instance_has_gpu("ml.p4d.24xlarge")
    assert not gpu_runtime.instance_has_gpu("ml.m5.xlarge") and not gpu_runtime.instance_has_gpu(
        "ml.inf2.xlarge"
    )


# --- the synthesized endpoint configs ---------------------------------------------------------------------


def test_startup_timeout_covers_downloading_the_base_model() -> None:
    low, high = gpu_runtime.STARTUP_TIMEOUT_LIMITS
    download = gpu_runtime.BASE_MODEL_BYTES / gpu_runtime.PESSIMISTIC_S3_BYTES_PER_SECOND
    assert download + gpu_runtime.LOAD_ALLOWANCE_SECONDS <= gpu_runtime.STARTUP_TIMEOUT_SECONDS <= high
    assert low <= gpu_runtime.STARTUP_TIMEOUT_SECONDS and gpu_runtime.BASE_MODEL_BYTES >= 5e9


def test_both_variants_run_the_configured_ami_with_startup_timeouts(service: dict[str, Any]) -> None:
    [training] = one(service, "AWS::SageMaker::EndpointConfig", "TrainingEndpointConfig")[
        "ProductionVariants"
    ]
    [hosting] = one(service, "AWS::SageMaker::EndpointConfig", "HostingEndpointConfig")["ProductionVariants"]
    for variant in (training, hosting):
        assert variant["InferenceAmiVersion"] == "al2023-ami-sagemaker-inference-gpu-4-1"
        assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == gpu_runtime.STARTUP_TIMEOUT_SECONDS
    assert training["ModelDataDownloadTimeoutInSeconds"] == gpu_runtime.STARTUP_TIMEOUT_SECONDS
    assert "ModelDataDownloadTimeoutInSeconds" not in hosting  # multi-model: models load on demand


def test_both_containers_are_told_their_instance_has_a_gpu(service: dict[str, Any]) -> None:
    for model in ("TrainingModel", "HostingModel"):
        env = one(service, "AWS::SageMaker::Model", model)["PrimaryContainer"]["Environment"]
        assert env[gpu_runtime.EXPECT_GPU_ENV] == "true", model


def test_variant_app_keeps_the_ami_on_its_gpu_instance(variant: Synth) -> None:
    config = one(
        variant.template("AvatarService"), "AWS::SageMaker::EndpointConfig", "TrainingEndpointConfig"
    )
    [training] = config["ProductionVariants"]
    assert training["InstanceType"] == "ml.g6.2xlarge"
    assert training["InferenceAmiVersion"] == gpu_runtime.DEFAULT_AMI


def test_docs_show_the_ami_table_of_the_code() -> None:
    docs = (REPO / "docs" / "gpu-runtime.md").read_text()
    section = docs[docs.index("<!-- BEGIN ami-table -->") : docs.index("<!-- END ami-table -->")]
    assert [line for line in section.splitlines() if line.startswith("|")] == (
        gpu_runtime.compatibility_table().splitlines()
    )
    assert f"ContainerStartupHealthCheckTimeoutInSeconds = {gpu_runtime.STARTUP_TIMEOUT_SECONDS}" in docs
