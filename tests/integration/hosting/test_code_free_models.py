"""Issue 21 M1: a per-user archive carries no code, and the hosting container loads nothing else.

The attacks are the ones today's Triton would run: a `model.py` under `backend: "python"`, a backend
library in the model's own folder, an execution environment, another backend. Each is refused with its
reason, is never loaded (no code ran: the marker file stays absent), and the other models still serve.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from avatar_contract.names import Triton
from hosting_server.mme import MultiModelClient, model_name_for

from .conftest import UserModel, build_user_model, reference_payload

pytestmark = pytest.mark.slow

HOSTILE_MODEL_PY = """
from pathlib import Path


class TritonPythonModel:
    def initialize(self, args):
        Path({marker!r}).write_text("code from a model archive ran on the fleet")

    def execute(self, requests):
        return []
"""

ENV_PARAMETER = 'parameters: {{ key: "EXECUTION_ENV_PATH", value: {{ string_value: "{}" }} }}\n'


def _config(user: UserModel) -> Path:
    return user.url / user.model_id / Triton.CONFIG_FILE


def _python_backend_with_model_py(user: UserModel, marker: Path) -> None:
    config = _config(user)
    config.write_text(config.read_text().replace(f'"{Triton.USER_BACKEND}"', '"python"'))
    (config.parent / "1" / "model.py").write_text(HOSTILE_MODEL_PY.format(marker=str(marker)))


def _model_py_beside_our_backend(user: UserModel, marker: Path) -> None:
    (_config(user).parent / "1" / "model.py").write_text(HOSTILE_MODEL_PY.format(marker=str(marker)))


def _backend_library_in_the_model(user: UserModel, marker: Path) -> None:
    (_config(user).parent / f"libtriton_{Triton.USER_BACKEND}.so").write_bytes(b"\x7fELF not really")


def _execution_environment(user: UserModel, marker: Path) -> None:
    shutil.make_archive(str(_config(user).parent / "env"), "gztar", root_dir=user.url)
    with _config(user).open("a") as config:
        config.write(ENV_PARAMETER.format("$$TRITON_MODEL_DIRECTORY/env.tar.gz"))


def _env_parameter_only(user: UserModel, marker: Path) -> None:
    with _config(user).open("a") as config:
        config.write(
            'parameters: { key: "EXECUTION_ENV_PATH", value: { string_value: "/tmp/env.tar.gz" } }\n'
        )


def _another_backend(user: UserModel, marker: Path) -> None:
    config = _config(user)
    config.write_text(config.read_text().replace(f'"{Triton.USER_BACKEND}"', '"onnxruntime"'))


def _a_link(user: UserModel, marker: Path) -> None:
    (_config(user).parent / "1" / "extra").symlink_to("/etc/passwd")


ATTACKS: dict[str, tuple[Callable[[UserModel, Path], None], str]] = {
    "model.py under the python backend": (_python_backend_with_model_py, "1/model.py"),
    "model.py beside our backend": (_model_py_beside_our_backend, "1/model.py"),
    "a backend library in the model folder": (_backend_library_in_the_model, "libtriton_avatar_lora.so"),
    "an execution environment in the archive": (_execution_environment, "env.tar.gz"),
    "an execution environment parameter": (_env_parameter_only, "EXECUTION_ENV_PATH"),
    "another backend": (_another_backend, "backend 'onnxruntime'"),
    "a link": (_a_link, "link"),
}


@pytest.mark.parametrize("attack", list(ATTACKS), ids=list(ATTACKS))
def test_a_model_carrying_code_or_naming_another_backend_is_refused_and_never_loaded(
    attack: str, mme: MultiModelClient, tiny_model_dir: Path, hosting_work: Path, tmp_path: Path
):
    user = build_user_model(tiny_model_dir, hosting_work / f"attack-{abs(hash(attack))}", seed=11)
    marker = tmp_path / "ran"
    mutate, reason = ATTACKS[attack]
    mutate(user, marker)
    name = model_name_for(user.target_model)
    response = mme.load(name, user.url, user.target_model)
    assert response.status_code == 400, response.text
    assert "refused" in response.text and reason in response.text, response.text
    assert not marker.exists()
    assert mme.describe(name).status_code == 404
    assert mme.ping() == 200


def test_the_published_layout_loads_with_the_images_backend_and_serves(
    mme: MultiModelClient, tiny_model_dir: Path, hosting_work: Path
):
    user = build_user_model(tiny_model_dir, hosting_work / "clean", seed=12)
    files = sorted(p.relative_to(user.url).as_posix() for p in user.url.rglob("*") if p.is_file())
    assert files == sorted(
        [
            f"{user.model_id}/1/{Triton.ADAPTER_FILE}",
            f"{user.model_id}/1/{Triton.METADATA_FILE}",
            f"{user.model_id}/{Triton.CONFIG_FILE}",
        ]
    )
    assert f'backend: "{Triton.USER_BACKEND}"' in _config(user).read_text()
    name = model_name_for(user.target_model)
    assert mme.load(name, user.url, user.target_model).status_code == 200
    response = mme.invoke(name, reference_payload(), user.target_model)
    assert response.status_code == 200, response.text
    assert mme.unload(name).status_code == 200
