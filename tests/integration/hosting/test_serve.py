"""The container's `serve` builds the command line of Triton's own SageMaker serve script."""

from __future__ import annotations

from pathlib import Path

import pytest

from hosting_server.serve import serve_command


def test_serve_uses_the_sagemaker_flags_and_loads_the_base_model(tmp_path: Path):
    environ = {
        "PATH": "/usr/bin",
        "TMPDIR": str(tmp_path),
        "AVATAR_BASE_MODEL": "s3://bucket/base/",
        "AVATAR_MODEL_REPOSITORY": "/opt/avatar/model_repository",
        "SAGEMAKER_BIND_TO_PORT": "9090",
        "SAGEMAKER_SAFE_PORT_RANGE": "9000-9999",
        "SAGEMAKER_TRITON_THREAD_COUNT": "4",
        "SAGEMAKER_TRITON_SHM_DEFAULT_BYTE_SIZE": "33554432",
    }
    command, env = serve_command(environ)
    assert command[0].endswith("tritonserver")
    # Only the SageMaker front end, explicit model control with namespaces, what SageMaker's environment
    # sets (port range, threads, shared memory; the growth size is the default), the base model. Triton
    # listens on the internal port: SageMaker's port (9090 here) is the model gate's.
    expected = """
        --allow-sagemaker=true --allow-grpc=false --allow-http=false --allow-metrics=false
        --model-control-mode=explicit --model-namespacing=true
        --sagemaker-port=8079 --sagemaker-safe-port-range=9000-9999 --sagemaker-thread-count=4
        --backend-config=python,shm-default-byte-size=33554432
        --backend-config=python,shm-growth-byte-size=1048576
        --model-repository=/opt/avatar/model_repository --load-model=sd_base
    """.split()
    missing = [flag for flag in expected if flag not in command]
    assert not missing, missing
    assert env["AVATAR_BASE_MODEL"] == "s3://bucket/base/"


def test_serve_binds_every_interface_by_default_and_loopback_when_told(tmp_path: Path):
    environ = {"PATH": "/usr/bin", "TMPDIR": str(tmp_path), "AVATAR_BASE_MODEL": "/base"}
    command, env = serve_command(environ)  # deployed: SageMaker calls the container on 0.0.0.0:8080
    assert "--http-address=0.0.0.0" in command and "--sagemaker-port=8079" in command
    assert "LD_PRELOAD" not in env
    command, env = serve_command({**environ, "AVATAR_TRITON_BIND_ADDRESS": "127.0.0.1"})
    for front_end in ("http", "grpc", "metrics"):
        assert f"--{front_end}-address=127.0.0.1" in command
    # the SageMaker front end has no address flag: the loopback shim is preloaded instead
    assert Path(env["LD_PRELOAD"].split()[0]).name.startswith("loopback-bind-")
    with pytest.raises(ValueError, match="loopback"):
        serve_command({**environ, "AVATAR_TRITON_BIND_ADDRESS": "192.168.1.5"})


def test_triton_never_takes_the_gates_port(tmp_path: Path):
    environ = {"PATH": "/usr/bin", "TMPDIR": str(tmp_path), "AVATAR_BASE_MODEL": "/base"}
    command, _ = serve_command({**environ, "AVATAR_TRITON_INTERNAL_PORT": "7000"})
    assert "--sagemaker-port=7000" in command and "--sagemaker-port=8080" not in command
    with pytest.raises(ValueError, match="INTERNAL_PORT"):
        serve_command({**environ, "AVATAR_TRITON_INTERNAL_PORT": "8080"})


@pytest.mark.slow
def test_the_containers_serve_answers_behind_the_model_gate(tiny_model_dir: Path, tmp_path: Path):
    """`serve` as SageMaker runs it: the gate on SageMaker's port refuses a code-bearing model before
    Triton sees it and passes the rest through; SIGTERM stops Triton and `serve` exits with it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import requests

    from avatar_runtime.ports import free_port
    from hosting_server.triton import TritonNotAvailable, find_triton

    try:
        find_triton(tmp_path / "probe")
    except TritonNotAvailable as exc:
        pytest.skip(f"no runnable tritonserver: {exc}")
    port, root = free_port(), Path(__file__).resolve().parents[3]
    env = {
        **os.environ,
        "TMPDIR": str(tmp_path),
        "AVATAR_BASE_MODEL": str(tiny_model_dir),
        "AVATAR_MODEL_REPOSITORY": str(root / "model_templates"),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "AVATAR_TRITON_INTERNAL_PORT": str(free_port()),
        "AVATAR_TRITON_BIND_ADDRESS": "127.0.0.1",
        "PYTHONPATH": os.pathsep.join(
            [str(root), str(root / "containers" / "hosting")]
        ),  # as the image's .pth
    }
    serve = subprocess.Popen([sys.executable, "-m", "hosting_server.serve"], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/ping", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert serve.poll() is None and time.monotonic() < deadline, "serve did not become healthy"
            time.sleep(0.5)
        model = tmp_path / "model" / "m-aaaaaaaaaaaaaaaaaaaa"
        (model / "1").mkdir(parents=True)
        (model / "config.pbtxt").write_text('backend: "python"\n')
        (model / "1" / "model.py").write_text("import os\n")
        response = requests.post(
            f"http://127.0.0.1:{port}/models", json={"model_name": "x", "url": str(model.parent)}, timeout=30
        )
        assert response.status_code == 400 and "refused" in response.json()["error"]
        assert requests.get(f"http://127.0.0.1:{port}/models/x", timeout=10).status_code == 404
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            raise
