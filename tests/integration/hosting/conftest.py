"""A real Triton server (the nvidia-pytriton wheel's tritonserver) started the way the hosting container
starts it: SageMaker multi-model mode, `sd_base` loaded at start with the tiny random-weight pipeline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from avatar_contract import keys
from avatar_runtime.artifact import package_user_model
from hosting_server.adapters import adapter_metadata, make_random_adapter
from hosting_server.mme import MultiModelClient, extract_model_archive
from hosting_server.triton import TritonNotAvailable, TritonProcess, start_triton
from tests.fixtures.owners import owner_id


@dataclass
class UserModel:
    model_id: str
    target_model: str  # <owner>/<model_id>.tar.gz, as the API passes it to InvokeEndpoint
    archive: Path
    url: Path  # where SageMaker would have extracted it


def build_user_model(
    base_model_dir: Path,
    work: Path,
    seed: int,
    token: str = "sks",
    corrupt: bytes | None = None,
    family: str | None = None,
) -> UserModel:
    """A per-user model exactly as the training service packages it (random adapter for the tiny base)."""
    model_id = keys.new_model_id()
    owner = owner_id(f"arn:aws:iam::111122223333:user/u{seed}")
    adapter = make_random_adapter(base_model_dir, work / f"adapter-{seed}", seed=seed)
    if corrupt is not None:
        adapter.write_bytes(corrupt)
    archive = package_user_model(
        model_id,
        adapter,
        adapter_metadata(model_id, token=token, base_family=family),
        work / f"{model_id}.tar.gz",
    )
    target = keys.target_model(owner, model_id)
    url = extract_model_archive(archive, work / "opt-ml-models", target)
    return UserModel(model_id, target, archive, url)


@pytest.fixture(scope="session")
def hosting_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hosting")


@pytest.fixture(scope="module")
def triton(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonProcess]:
    log = tmp_path_factory.mktemp("triton-log") / "tritonserver.log"
    try:
        server = start_triton(base_model=tiny_model_dir, http_port=None, log_path=log, startup_timeout_s=180)
    except TritonNotAvailable as exc:
        pytest.skip(f"the tritonserver from nvidia-pytriton cannot run here: {exc}")
    with server:
        yield server


@pytest.fixture(scope="module")
def mme(triton: TritonProcess) -> MultiModelClient:
    return MultiModelClient(triton.url)


@pytest.fixture(scope="session")
def user_models(tiny_model_dir: Path, hosting_work: Path) -> tuple[UserModel, UserModel]:
    return build_user_model(tiny_model_dir, hosting_work, seed=1), build_user_model(
        tiny_model_dir, hosting_work, seed=2
    )


def reference_payload(seed: int = 42, steps: int = 2) -> dict:
    """The reference sample's request, byte for byte: three BYTES inputs, gen_args with its three keys."""
    gen_args = {"num_inference_steps": steps, "guidance_scale": 7.5, "seed": seed}
    return {
        "inputs": [
            {"name": "prompt", "shape": [1, 1], "datatype": "BYTES", "data": ["a photo of <<TOK>>"]},
            {"name": "negative_prompt", "shape": [1, 1], "datatype": "BYTES", "data": ["blurry"]},
            {"name": "gen_args", "shape": [1, 1], "datatype": "BYTES", "data": [json.dumps(gen_args)]},
        ]
    }
