"""The GPU runtime of the two endpoints: which SageMaker inference AMI (NVIDIA driver, CUDA) each runs,
and whether that AMI can run the CUDA its image needs (standard library only).

An image needs the larger of two CUDA versions: the one its base image is built for
(`base_image_cuda.json`, next to `base_images.json`) and the one its locked torch wheels need
(`containers/<image>/requirements.lock`: the `nvidia-cuda-runtime[-cuNN]` / `cuda-toolkit` pins, or a
`+cuNNN` local version of torch). An AMI provides a CUDA version; it runs an image when it provides at
least the CUDA the image needs. `check_ami` applies that at synth; tests/infrastructure/test_gpu_runtime.py
applies it to the committed lock files.

The AMI names are botocore's `ProductionVariant.InferenceAmiVersion` enum (a test compares them with the
installed botocore's service model); the driver and CUDA of each are from that field's documentation.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avatar_runtime.gpu import EXPECT_GPU_ENV  # noqa: F401 - the containers' "instance has a GPU" flag
from stacks.config_parsers import ConfigError

REPO = Path(__file__).resolve().parent.parent
BASE_IMAGE_CUDA_FILE = Path(__file__).with_name("base_image_cuda.json")
IMAGES = ("training", "hosting")

CudaVersion = tuple[int, int]


@dataclass(frozen=True)
class AmiRuntime:
    """What an inference AMI gives the container: NVIDIA driver branch and the CUDA it supports."""

    driver: int | None  # None: no NVIDIA driver (Neuron AMI)
    cuda: CudaVersion | None


# InferenceAmiVersion -> runtime (botocore's documentation of ProductionVariant.InferenceAmiVersion).
AMI_RUNTIMES: dict[str, AmiRuntime] = {
    "al2-ami-sagemaker-inference-gpu-2": AmiRuntime(535, (12, 2)),
    "al2-ami-sagemaker-inference-gpu-2-1": AmiRuntime(535, (12, 2)),
    "al2-ami-sagemaker-inference-gpu-3-1": AmiRuntime(550, (12, 4)),
    "al2-ami-sagemaker-inference-neuron-2": AmiRuntime(None, None),
    "al2023-ami-sagemaker-inference-gpu-4-1": AmiRuntime(580, (13, 0)),
}
# What a GPU endpoint runs when its config sets no InferenceAmiVersion.
NO_AMI_RUNTIME = AmiRuntime(470, (11, 4))
DEFAULT_AMI = "al2023-ami-sagemaker-inference-gpu-4-1"

# --- startup timeouts, sized for the base model --------------------------------------------------------
# Both containers download the base model (SD 2.1-base in diffusers layout, about 5 GB) from S3 and load
# it before they are ready. Sized for a pessimistic 10 MB/s from S3 (g5 instances reach well over
# 100 MB/s) plus 5 minutes to load the pipeline onto the GPU and start the server, rounded up to minutes:
# 14 minutes (the API allows 60-3600 s).
BASE_MODEL_BYTES = 5_200_000_000
PESSIMISTIC_S3_BYTES_PER_SECOND = 10_000_000
LOAD_ALLOWANCE_SECONDS = 300
STARTUP_TIMEOUT_SECONDS = 60 * math.ceil(
    (BASE_MODEL_BYTES / PESSIMISTIC_S3_BYTES_PER_SECOND + LOAD_ALLOWANCE_SECONDS) / 60
)
STARTUP_TIMEOUT_LIMITS = (60, 3600)  # what the API accepts for both ProductionVariant timeouts

_GPU_FAMILY_RE = re.compile(r"^ml\.(g|p)\d")  # ml.g4dn, g5, g6, g6e, p3, p4d, p5 ...


def instance_has_gpu(instance_type: str) -> bool:
    """Whether a SageMaker instance type carries NVIDIA GPUs (the g and p families)."""
    return bool(_GPU_FAMILY_RE.match(instance_type))


def format_cuda(version: CudaVersion | None) -> str:
    return "none" if version is None else f"{version[0]}.{version[1]}"


def parse_cuda(text: str) -> CudaVersion:
    major, minor = text.strip().split(".")[:2]
    return int(major), int(minor)


# --- what the images need --------------------------------------------------------------------------

_PIN_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)", re.M)
_CUDA_RUNTIME_RE = re.compile(r"^(nvidia-cuda-runtime(-cu\d+)?|cuda-toolkit)$")
_TORCH_LOCAL_CUDA_RE = re.compile(r"\+cu(?P<digits>\d{3,})$")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_torch_cuda(lock_text: str) -> CudaVersion | None:
    """The CUDA the torch of a pip-compile lock needs, or None when the lock has no CUDA torch.

    From the locked CUDA runtime pins (`nvidia-cuda-runtime==13.0.96`, `nvidia-cuda-runtime-cu12==12.4.127`,
    `cuda-toolkit==13.0.3`: the highest), else from a `torch==2.6.0+cu124` local version. A lock without
    torch, or with a CPU-only torch, needs no CUDA.
    """
    pins = {_normalize(m["name"]): m["version"] for m in _PIN_RE.finditer(lock_text)}
    if "torch" not in pins:
        return None
    runtimes = [parse_cuda(version) for name, version in pins.items() if _CUDA_RUNTIME_RE.match(name)]
    if runtimes:
        return max(runtimes)
    local = _TORCH_LOCAL_CUDA_RE.search(pins["torch"])
    if local:
        digits = local["digits"]
        return int(digits[:-1]), int(digits[-1])
    return None


def lock_file(image: str) -> Path:
    return REPO / "containers" / image / "requirements.lock"


def base_image_cuda(image: str) -> CudaVersion:
    return parse_cuda(json.loads(BASE_IMAGE_CUDA_FILE.read_text())[image]["cuda"])


@dataclass(frozen=True)
class CudaNeed:
    image: str
    base_image: CudaVersion
    locked_torch: CudaVersion | None  # None: no lock file, or a lock without CUDA torch

    @property
    def cuda(self) -> CudaVersion:
        return max(self.base_image, self.locked_torch or (0, 0))

    def describe(self) -> str:
        torch = format_cuda(self.locked_torch) if self.locked_torch else "no CUDA torch locked"
        return (
            f"the {self.image} image needs CUDA {format_cuda(self.cuda)} "
            f"(base image {format_cuda(self.base_image)}, locked torch {torch})"
        )


def cuda_need(image: str, lock_text: str | None = None) -> CudaNeed:
    """What `image` needs: its base image's CUDA and, when it has a lock file, its locked torch's."""
    if lock_text is None:
        path = lock_file(image)
        lock_text = path.read_text() if path.exists() else ""
    return CudaNeed(image, base_image_cuda(image), locked_torch_cuda(lock_text))


def ami_runtime(ami: str | None) -> AmiRuntime:
    return NO_AMI_RUNTIME if ami is None else AMI_RUNTIMES[ami]


def provides(ami: str | None, need: CudaVersion) -> bool:
    provided = ami_runtime(ami).cuda
    return provided is not None and provided >= need


def check_ami(key: str, ami: str | None, image: str, lock_text: str | None = None) -> CudaNeed:
    """Raise ConfigError naming `key` when `ami` cannot run `image`'s CUDA; else return the need."""
    need = cuda_need(image, lock_text)
    if not provides(ami, need.cuda):
        runtime = ami_runtime(ami)
        shown = ami or "no InferenceAmiVersion (SageMaker's default)"
        fits = ", ".join(name for name in AMI_RUNTIMES if provides(name, need.cuda)) or "none"
        raise ConfigError(
            f"cdk.json context {key!r}: {shown} provides NVIDIA driver {runtime.driver or 'none'} / CUDA "
            f"{format_cuda(runtime.cuda)}, but {need.describe()}; choose one of: {fits}"
        )
    return need


def variant_runtime(
    key: str, ami: str, instance_type: str, image: str, *, model_data_download: bool
) -> dict[str, Any]:
    """ProductionVariant properties for the GPU runtime: the checked `InferenceAmiVersion` on a GPU
    instance type (none elsewhere: the GPU AMIs are for GPU instances), and the startup timeouts."""
    properties: dict[str, Any] = {
        "container_startup_health_check_timeout_in_seconds": STARTUP_TIMEOUT_SECONDS
    }
    if model_data_download:
        properties["model_data_download_timeout_in_seconds"] = STARTUP_TIMEOUT_SECONDS
    if instance_has_gpu(instance_type):
        check_ami(key, ami, image)
        properties["inference_ami_version"] = ami
    return properties


def compatibility_table() -> str:
    """The AMI -> NVIDIA driver / CUDA table of docs/gpu-runtime.md (checked by a test)."""
    rows = ["| InferenceAmiVersion | NVIDIA driver | CUDA |", "|---|---|---|"]
    entries: list[tuple[str, str | None]] = [(f"`{name}`", name) for name in AMI_RUNTIMES]
    entries.append(("(none set: SageMaker's default)", None))
    for shown, ami in entries:
        runtime = ami_runtime(ami)
        rows.append(f"| {shown} | {runtime.driver or '- (Neuron)'} | {format_cuda(runtime.cuda)} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover - prints what docs/gpu-runtime.md shows
    print(compatibility_table())
    for image in IMAGES:
        need = cuda_need(image)
        fits = [name for name in AMI_RUNTIMES if provides(name, need.cuda)]
        print(f"{need.describe()}: runs on {', '.join(fits) or 'no AMI'}")
