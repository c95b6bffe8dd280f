"""Issue 21 M1: the hosting container's model gate refuses any per-user model that is not code-free,
before Triton sees it, and passes everything else through to Triton unchanged."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from avatar_contract import keys
from avatar_contract.families import FAMILY_KEY, FamilyName
from avatar_contract.names import Triton
from avatar_runtime.artifact import package_user_model
from avatar_runtime.safe_tar import safe_extract
from hosting_server.gate import ModelGate
from hosting_server.model_gate import FamilyRefused, RefusedModel, check_user_model, template_config

ENV_PARAMETER = 'parameters: {{ key: "EXECUTION_ENV_PATH", value: {{ string_value: "{}" }} }}\n'


def _model(tmp_path: Path) -> tuple[Path, Path]:
    adapter = tmp_path / "adapter.safetensors"
    adapter.write_bytes(b"weights")
    model_id = keys.new_model_id()
    archive = package_user_model(model_id, adapter, {"token": "sks"}, tmp_path / "m.tar.gz")
    url = safe_extract(archive, tmp_path / "model")
    return url, url / model_id


def test_the_published_layout_passes(tmp_path: Path):
    url, model_dir = _model(tmp_path)
    assert check_user_model(url) == model_dir


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: (m / "1" / "model.py").write_text("import os"), "1/model.py"),
        (lambda m: (m / "libtriton_avatar_lora.so").write_bytes(b"\x7fELF"), "libtriton_avatar_lora.so"),
        (lambda m: (m / "2").mkdir(), "folder"),
        (lambda m: (m / "1" / "x").symlink_to("/etc/passwd"), "link"),
        (lambda m: (m / "1" / Triton.METADATA_FILE).unlink(), "lacks"),
        (lambda m: (m.parent / "other").mkdir(), "exactly one model folder"),
    ],
    ids=["model.py", "backend library", "another version", "a link", "no metadata", "two models"],
)
def test_any_other_file_is_refused(tmp_path: Path, mutate, reason: str):
    url, model_dir = _model(tmp_path)
    mutate(model_dir)
    with pytest.raises(RefusedModel, match=reason):
        check_user_model(url)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda c: c.replace('"avatar_lora"', '"python"'), "backend 'python'"),
        (lambda c: c.replace('backend: "avatar_lora"', "backend: 'onnxruntime'"), "backend 'onnxruntime'"),
        (lambda c: c + ENV_PARAMETER.format("$$TRITON_MODEL_DIRECTORY/e.tar.gz"), "EXECUTION_ENV_PATH"),
        (lambda c: c + 'runtime: "model.py"\n', "runtime"),
        (lambda c: c + 'parameters: { key: "x", value: { string_value: "y" } }\n', "parameters"),
        (lambda c: c.replace("count: 1", "count: 64"), "differs from the image's per-user model template"),
    ],
    ids=["python backend", "another backend", "execution environment", "runtime", "parameters", "edited"],
)
def test_a_config_other_than_the_template_is_refused(tmp_path: Path, edit, reason: str):
    url, model_dir = _model(tmp_path)
    config = model_dir / Triton.CONFIG_FILE
    config.write_text(edit(config.read_text()))
    with pytest.raises(RefusedModel, match=reason):
        check_user_model(url)


def test_an_oversized_metadata_file_is_refused(tmp_path: Path):
    url, model_dir = _model(tmp_path)
    (model_dir / "1" / Triton.METADATA_FILE).write_text(" " * (64 * 1024 + 1))
    with pytest.raises(RefusedModel, match="exceeds"):
        check_user_model(url)


class _Triton(BaseHTTPRequestHandler):
    """Stands in for Triton's SageMaker front end: records what reaches it."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, bytes]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen.append((self.command, self.path, body))
        data = json.dumps({"path": self.path, "target": self.headers.get("X-Amzn-SageMaker-Target-Model")})
        self.send_response(207)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data.encode())

    do_GET = do_POST = do_DELETE = _answer


@pytest.fixture
def gate() -> Iterator[ModelGate]:
    _Triton.seen = []
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Triton)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    server = ModelGate(("127.0.0.1", 0), upstream.server_address[1]).start()
    yield server
    server.stop()
    upstream.shutdown()
    upstream.server_close()


def test_the_gate_refuses_a_code_bearing_load_and_triton_never_sees_it(gate: ModelGate, tmp_path: Path):
    url, model_dir = _model(tmp_path)
    (model_dir / "1" / "model.py").write_text("import os")
    response = requests.post(f"{gate.url}/models", json={"model_name": "m", "url": str(url)}, timeout=10)
    assert response.status_code == 400
    assert "refused" in response.json()["error"] and "model.py" in response.json()["error"]
    assert _Triton.seen == []
    response = requests.post(f"{gate.url}/models", data=b"not json", timeout=10)
    assert response.status_code == 400 and _Triton.seen == []


def test_the_gate_passes_a_clean_load_and_every_other_call_through(gate: ModelGate, tmp_path: Path):
    url, _ = _model(tmp_path)
    body = {"model_name": "m", "url": str(url)}
    headers = {"X-Amzn-SageMaker-Target-Model": "o/m.tar.gz"}
    response = requests.post(f"{gate.url}/models", json=body, headers=headers, timeout=10)
    assert response.status_code == 207 and response.json() == {"path": "/models", "target": "o/m.tar.gz"}
    invoke = requests.post(f"{gate.url}/models/m/invoke", data=b"x" * 100_000, headers=headers, timeout=10)
    assert invoke.status_code == 207 and invoke.json()["path"] == "/models/m/invoke"
    assert requests.delete(f"{gate.url}/models/m", timeout=10).status_code == 207
    assert requests.get(f"{gate.url}/ping", timeout=10).status_code == 207
    assert [(m, p) for m, p, _ in _Triton.seen] == [
        ("POST", "/models"),
        ("POST", "/models/m/invoke"),
        ("DELETE", "/models/m"),
        ("GET", "/ping"),
    ]
    assert json.loads(_Triton.seen[0][2]) == body and len(_Triton.seen[1][2]) == 100_000


def test_the_gate_drops_the_call_while_triton_is_down_as_a_crashed_container_would(tmp_path: Path):
    from avatar_runtime.ports import free_port

    server = ModelGate(("127.0.0.1", 0), free_port()).start()
    try:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{server.url}/ping", timeout=10)
    finally:
        server.stop()


def test_the_template_the_gate_compares_with_names_the_images_backend():
    assert f'backend: "{Triton.USER_BACKEND}"'.encode() in template_config()


def _family_model(tmp_path: Path, metadata: dict) -> Path:
    adapter = tmp_path / "adapter.safetensors"
    adapter.write_bytes(b"weights")
    archive = package_user_model(keys.new_model_id(), adapter, metadata, tmp_path / "m.tar.gz")
    return safe_extract(archive, tmp_path / "model")


@pytest.mark.parametrize(
    ("metadata", "served", "refused"),
    [
        ({"token": "sks"}, FamilyName.SD21_BASE, None),  # from before families: sd21-base
        ({"token": "sks"}, FamilyName.SDXL_BASE_1_0, "'sd21-base'"),
        ({"token": "sks", FAMILY_KEY: "sdxl-base-1.0"}, FamilyName.SDXL_BASE_1_0, None),
        ({"token": "sks", FAMILY_KEY: "sdxl-base-1.0"}, FamilyName.SD21_BASE, "'sdxl-base-1.0'"),
    ],
)
def test_a_model_of_another_family_is_refused_naming_both(
    tmp_path: Path, metadata: dict, served: FamilyName, refused: str | None
) -> None:
    url = _family_model(tmp_path, metadata)
    if refused is None:
        check_user_model(url, served_family=served)
        return
    with pytest.raises(FamilyRefused) as caught:
        check_user_model(url, served_family=served)
    assert refused in str(caught.value) and f"'{served}'" in str(caught.value)


def test_the_gate_answers_409_for_a_model_of_another_family(tmp_path: Path) -> None:
    _Triton.seen = []
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Triton)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    server = ModelGate(("127.0.0.1", 0), upstream.server_address[1], served_family=FamilyName.SDXL_BASE_1_0)
    server.start()
    try:
        url = _family_model(tmp_path, {"token": "sks"})
        response = requests.post(
            f"{server.url}/models", json={"model_name": "m", "url": str(url)}, timeout=10
        )
        assert response.status_code == 409
        assert "'sd21-base'" in response.json()["error"] and "'sdxl-base-1.0'" in response.json()["error"]
        assert _Triton.seen == []
    finally:
        server.stop()
        upstream.shutdown()
        upstream.server_close()
