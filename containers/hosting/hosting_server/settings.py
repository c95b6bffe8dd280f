"""The hosting container's settings, read once from its environment (set by the CDK app, SageMaker or the
local cloud) through `avatar_runtime.environment`, with the `sd_base` model's Triton parameters of the
same name as the fallback for the adapter-cache bounds.

Engine (the shared base model and its adapter cache):
- `AVATAR_MAX_RESIDENT_ADAPTERS` (32) and `AVATAR_MAX_ADAPTER_MEMORY_MB` (4096, 0 = unbounded): how many
  LoRA adapters stay resident, and how many MB of adapter weights in total;
- `AVATAR_DEVICE` (`auto`: CUDA when available, else CPU; or `cpu`, `cuda`, `cuda:N`);
- `AVATAR_TORCH_DTYPE` (`auto`: fp16 on GPU, fp32 on CPU; or `float16`, `bfloat16`, `float32`);
- `AVATAR_BASE_MODEL`: where the base pipeline comes from (a local directory, s3:// URI or HF id).

`serve` (the tritonserver command line, as Triton's own SageMaker `serve` script reads it):
- `SAGEMAKER_BIND_TO_PORT` (8080: the model gate, hosting_server.gate), `AVATAR_TRITON_INTERNAL_PORT`
  (8079: Triton's SageMaker front end behind the gate), `AVATAR_TRITON_BIND_ADDRESS` (0.0.0.0, what
  SageMaker needs; a loopback address keeps every front end on loopback: hosting_server.loopback),
  `AVATAR_MODEL_REPOSITORY` (/opt/avatar/model_repository),
  `AVATAR_TRITON_EXIT_TIMEOUT_SECS` (10), `SAGEMAKER_TRITON_LOG_VERBOSE`,
  `SAGEMAKER_TRITON_SHM_DEFAULT_BYTE_SIZE` (16 MiB), `SAGEMAKER_TRITON_SHM_GROWTH_BYTE_SIZE` (1 MiB), and
  the variables in `TRITON_PASS_THROUGH`, each one tritonserver flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from avatar_contract.families import DEFAULT_FAMILY, FamilyName, family
from avatar_contract.names import Env, Runtime
from avatar_runtime.environment import Environment

MAX_ADAPTERS_ENV = "AVATAR_MAX_RESIDENT_ADAPTERS"
MAX_ADAPTER_MB_ENV = "AVATAR_MAX_ADAPTER_MEMORY_MB"
DTYPE_ENV = "AVATAR_TORCH_DTYPE"
MODEL_REPOSITORY_ENV = "AVATAR_MODEL_REPOSITORY"
EXIT_TIMEOUT_ENV = "AVATAR_TRITON_EXIT_TIMEOUT_SECS"
BIND_ADDRESS_ENV = "AVATAR_TRITON_BIND_ADDRESS"
INTERNAL_PORT_ENV = "AVATAR_TRITON_INTERNAL_PORT"
DEFAULT_INTERNAL_PORT = 8079
DEFAULT_BIND_ADDRESS = "0.0.0.0"  # SageMaker calls the container on 0.0.0.0:8080
DEFAULT_MAX_ADAPTERS = 32
DEFAULT_MAX_ADAPTER_MB = 4096
DEFAULT_MODEL_REPOSITORY = "/opt/avatar/model_repository"

# SageMaker / Triton serve-script variables that map one to one onto a tritonserver flag.
TRITON_PASS_THROUGH = {
    "SAGEMAKER_SAFE_PORT_RANGE": "--sagemaker-safe-port-range",
    "SAGEMAKER_TRITON_BUFFER_MANAGER_THREAD_COUNT": "--buffer-manager-thread-count",
    "SAGEMAKER_TRITON_THREAD_COUNT": "--sagemaker-thread-count",
    "SAGEMAKER_TRITON_LOG_INFO": "--log-info",
    "SAGEMAKER_TRITON_LOG_WARNING": "--log-warning",
    "SAGEMAKER_TRITON_LOG_ERROR": "--log-error",
}


@dataclass(frozen=True)
class CacheBound:
    """How many adapters may stay resident, and how many bytes of adapter weights in total (0 = unbounded
    memory). The adapter in use is never evicted, so one adapter larger than the memory bound still works."""

    max_adapters: int = DEFAULT_MAX_ADAPTERS
    max_bytes: int = DEFAULT_MAX_ADAPTER_MB * 2**20


@dataclass(frozen=True)
class HostingSettings:
    """Everything the hosting container reads from its environment, in one place."""

    max_adapters: int = DEFAULT_MAX_ADAPTERS
    max_adapter_mb: int = DEFAULT_MAX_ADAPTER_MB
    device: str = "auto"
    dtype: str = "auto"
    base_model: str | None = None
    base_family: FamilyName = DEFAULT_FAMILY  # AVATAR_BASE_FAMILY: the family sd_base serves
    port: int = Runtime.CONTAINER_PORT
    triton_port: int = DEFAULT_INTERNAL_PORT
    bind_address: str = DEFAULT_BIND_ADDRESS
    model_repository: Path = Path(DEFAULT_MODEL_REPOSITORY)
    exit_timeout_secs: int = 10
    verbose: bool = False
    shm_default_bytes: int = 2**24
    shm_growth_bytes: int = 2**20
    triton_flags: tuple[str, ...] = field(default=())

    @property
    def cache_bound(self) -> CacheBound:
        return CacheBound(max_adapters=max(1, self.max_adapters), max_bytes=self.max_adapter_mb * 2**20)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, parameters: Mapping[str, str] | None = None
    ) -> HostingSettings:
        """The settings from `environ` (default: this process's), then Triton model `parameters`."""
        env = Environment(environ)
        tuned = Environment(environ, dict(parameters or {}))  # the environment, then sd_base's parameters
        return cls(
            max_adapters=tuned.integer(MAX_ADAPTERS_ENV, DEFAULT_MAX_ADAPTERS, minimum=0),
            max_adapter_mb=tuned.integer(MAX_ADAPTER_MB_ENV, DEFAULT_MAX_ADAPTER_MB, minimum=0),
            device=env.text(Env.DEVICE, "auto"),
            dtype=env.text(DTYPE_ENV, "auto"),
            base_model=env.raw(Env.BASE_MODEL),
            base_family=family(env.text(Env.BASE_FAMILY, DEFAULT_FAMILY)).name,
            port=env.integer("SAGEMAKER_BIND_TO_PORT", Runtime.CONTAINER_PORT, minimum=0),
            triton_port=env.integer(INTERNAL_PORT_ENV, DEFAULT_INTERNAL_PORT, minimum=0),
            bind_address=env.text(BIND_ADDRESS_ENV, DEFAULT_BIND_ADDRESS),
            model_repository=env.path(MODEL_REPOSITORY_ENV, Path(DEFAULT_MODEL_REPOSITORY)),
            exit_timeout_secs=env.integer(EXIT_TIMEOUT_ENV, 10, minimum=0),
            verbose=env.flag("SAGEMAKER_TRITON_LOG_VERBOSE", False),
            shm_default_bytes=env.integer("SAGEMAKER_TRITON_SHM_DEFAULT_BYTE_SIZE", 2**24, minimum=0),
            shm_growth_bytes=env.integer("SAGEMAKER_TRITON_SHM_GROWTH_BYTE_SIZE", 2**20, minimum=0),
            triton_flags=tuple(
                f"{flag}={env.raw(name)}" for name, flag in TRITON_PASS_THROUGH.items() if env.raw(name)
            ),
        )
