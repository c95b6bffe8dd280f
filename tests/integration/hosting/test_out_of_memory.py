"""Out of memory in the base model reaches SageMaker as HTTP 507 through the per-user model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hosting_server.mme import MultiModelClient, model_name_for
from hosting_server.triton import TritonNotAvailable, TritonProcess, start_triton

from .conftest import UserModel, reference_payload

pytestmark = pytest.mark.slow
OOM_REPOSITORY = Path(__file__).parent / "oom_repository"


@pytest.fixture(scope="module")
def oom_triton(tiny_model_dir: Path) -> Iterator[TritonProcess]:
    try:
        server = start_triton(OOM_REPOSITORY, base_model=tiny_model_dir, http_port=None)
    except TritonNotAvailable as exc:
        pytest.skip(f"the tritonserver from nvidia-pytriton cannot run here: {exc}")
    with server:
        yield server


def test_out_of_memory_is_507_with_the_real_message(
    oom_triton: TritonProcess, user_models: tuple[UserModel, UserModel]
):
    mme = MultiModelClient(oom_triton.url)
    user = user_models[0]
    name = model_name_for(user.target_model)
    assert mme.load(name, user.url, user.target_model).status_code == 200
    response = mme.invoke(name, reference_payload())
    assert response.status_code == 507
    assert "CUDA out of memory" in response.text
    assert mme.ping() == 200
