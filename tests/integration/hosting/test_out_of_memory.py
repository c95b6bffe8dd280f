"""Out of memory in the base model reaches SageMaker as HTTP 507 through the per-user model."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hosting_server.mme import MultiModelClient, model_name_for
from hosting_server.triton import MODEL_TEMPLATES, TritonNotAvailable, TritonProcess, start_triton

from .conftest import UserModel, reference_payload

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def oom_triton(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonProcess]:
    """Triton with a stand-in `sd_base` (the real config, a model that always runs out of memory)."""
    repository = tmp_path_factory.mktemp("oom-repository")
    (repository / "sd_base" / "1").mkdir(parents=True)
    shutil.copy(MODEL_TEMPLATES / "sd_base" / "config.pbtxt", repository / "sd_base" / "config.pbtxt")
    shutil.copy(Path(__file__).parent / "oom_sd_base_model.py", repository / "sd_base" / "1" / "model.py")
    try:
        server = start_triton(repository, base_model=tiny_model_dir, http_port=None)
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
