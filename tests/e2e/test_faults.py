"""Faults, end to end through the local cloud: a container dies mid-work, an upload breaks half-way. Each
test checks what the caller sees and that nothing was lost (the job is reported, the next one runs) or
left behind (no artifact, no previews, no scratch files, no half-made uploads, no stray processes)."""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from avatar_contract import keys
from avatar_contract.multi_model import model_name_for
from avatar_contract.names import Prefix
from local_cloud import LocalCloud
from local_cloud.selfies import make_selfies, to_jpeg
from tests.e2e.helpers import (
    FAST_CONTAINER_ENV,
    FAST_TRAINING,
    NotificationInbox,
    client_for,
    running_cloud,
    signed_call,
)

pytestmark = pytest.mark.slow
SELFIES = [to_jpeg(image) for image in make_selfies(10)]
LONG_TRAINING = {**FAST_TRAINING, "max_train_steps": 3000}  # minutes on a CPU: killed long before the end


class S3FaultProxy:
    """Between the training container and moto's S3: passes every request on, except, once armed, a PUT
    under `prefix` (and containing `contains`, if set), whose connection it cuts after half of the body (each
    attempt, so retries fail too)."""

    def __init__(self) -> None:
        self.upstream = ""
        self.prefix: str | None = None
        self.contains: str | None = None
        self.cut: list[str] = []
        self.passed: list[str] = []  # the PUTs passed on
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                armed = proxy.prefix and self.path.startswith(proxy.prefix)
                if self.command == "PUT" and armed and (proxy.contains or "") in self.path:
                    self.rfile.read(length // 2)
                    proxy.cut.append(self.path)
                    self.close_connection = True
                    self.connection.shutdown(2)  # no answer: the connection just ends
                    return
                body = self.rfile.read(length) if length else None
                if self.command == "PUT":
                    proxy.passed.append(self.path)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("expect", "connection")}
                upstream = http.client.HTTPConnection(proxy.upstream.split("//", 1)[1], timeout=120)
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in (
                        "transfer-encoding",
                        "connection",
                        "content-length",
                        "date",
                        "server",
                    ):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def proxy() -> Iterator[S3FaultProxy]:
    s3 = S3FaultProxy()
    yield s3
    s3.close()


@pytest.fixture(scope="module")
def cloud(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, proxy: S3FaultProxy
) -> Iterator[LocalCloud]:
    """The training container reaches S3 through the fault proxy (only S3: AWS_ENDPOINT_URL_S3)."""
    with running_cloud(
        tmp_path_factory.mktemp("local-cloud"),
        tiny_model_dir,
        extra_container_env={**FAST_CONTAINER_ENV, "AWS_ENDPOINT_URL_S3": proxy.url},
    ) as local_cloud:
        proxy.upstream = local_cloud.aws.endpoint_url
        yield local_cloud


def _objects(cloud: LocalCloud, bucket: str, prefix: str) -> list[str]:
    listing = cloud.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def _assert_left_nothing(cloud: LocalCloud, owner: str, accepted: dict[str, Any]) -> None:
    """No artifact, no previews, no half-made multipart upload, a clean scratch folder."""
    settings = cloud.settings
    assert _objects(cloud, settings.hosting_bucket, keys.model_key(owner, accepted["model_id"])) == []
    assert _objects(cloud, settings.data_bucket, keys.preview_prefix(owner, accepted["training_id"])) == []
    assert _objects(cloud, settings.data_bucket, keys.staged_prefix(owner, accepted["training_id"])) == []
    for bucket in (settings.hosting_bucket, settings.data_bucket):
        assert cloud.client("s3").list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def _scratch_files(cloud: LocalCloud) -> list[Path]:
    return [p for p in (cloud.state_dir / "tmp" / "training").rglob("*") if p.is_file()]


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f} s"
        time.sleep(0.2)


def _training_busy(cloud: LocalCloud) -> bool:
    url = cloud.runtime.containers[cloud.settings.training_model] + "/ping"
    try:
        return bool(requests.get(url, timeout=5).json().get("training"))
    except requests.RequestException:
        return False


def _train(
    cloud: LocalCloud, inbox: NotificationInbox, name: str, config: dict[str, Any]
) -> tuple[dict, dict]:
    client = client_for(cloud, cloud.principals[0])
    accepted = client.start_training(SELFIES, model_name=name, config=config, prepare=False)
    return accepted, inbox.wait_for(accepted["training_id"], timeout=400)[1]


def test_killing_the_training_container_mid_training_fails_that_job_and_the_next_one_runs(
    cloud: LocalCloud, inbox: NotificationInbox
) -> None:
    client = client_for(cloud, cloud.principals[0])
    owner = cloud.owner_id(cloud.principals[0])
    accepted = client.start_training(SELFIES, model_name="killed", config=LONG_TRAINING, prepare=False)
    _wait(lambda: _training_busy(cloud), 120, "the training container took the job")
    time.sleep(2)  # into the training loop
    assert cloud.training is not None and cloud.training.process is not None
    os.killpg(cloud.training.process.pid, signal.SIGKILL)  # the container dies with all its processes

    _, raw = inbox.wait_for(accepted["training_id"], timeout=120)
    assert raw["invocationStatus"] == "Failed"
    assert "container exited before it answered" in raw["failureReason"]
    status = client.get_training(accepted["training_id"])
    assert status["status"] == "failed" and status["reason"]
    _assert_left_nothing(cloud, owner, accepted)

    # SageMaker starts the container again from a clean filesystem, and the next job runs on it
    _wait(lambda: cloud.supervisor.restarts("training") == 1, 240, "the training container restarted")
    assert _scratch_files(cloud) == []
    following, raw = _train(cloud, inbox, "after-kill", FAST_TRAINING)
    assert raw["invocationStatus"] == "Completed", raw.get("failureReason")
    # completed once the model publisher has published it (issue 21 M1)
    assert (
        client.wait_for_training(following["training_id"], timeout=60, poll_interval=0.5)["status"]
        == "completed"
    )
    assert _objects(cloud, cloud.settings.hosting_bucket, keys.model_key(owner, following["model_id"]))
    assert _scratch_files(cloud) == []
    assert set(inbox.received) >= {accepted["training_id"], following["training_id"]}
    assert all(len(inbox.received[t]) == 1 for t in (accepted["training_id"], following["training_id"]))


def test_a_model_upload_cut_half_way_publishes_nothing_and_removes_the_previews(
    cloud: LocalCloud, inbox: NotificationInbox, proxy: S3FaultProxy
) -> None:
    owner = cloud.owner_id(cloud.principals[0])
    # the container stages its model in the data bucket (the publisher alone writes models/*)
    proxy.prefix, proxy.contains = f"/{cloud.settings.data_bucket}/{Prefix.TRAININGS}{owner}/", "/staged/"
    try:
        accepted, raw = _train(cloud, inbox, "cut-upload", FAST_TRAINING)
    finally:
        proxy.prefix = proxy.contains = None
    assert len(proxy.cut) >= 2  # the container retried the upload, and every attempt was cut
    assert all(keys.staged_prefix(owner, accepted["training_id"]) in path for path in proxy.cut)
    assert raw["invocationStatus"] == "Failed"
    assert "could not stage the model" in raw["failureReason"]
    status = client_for(cloud, cloud.principals[0]).get_training(accepted["training_id"])
    assert status["status"] == "failed" and "could not stage the model" in status["reason"]
    _assert_left_nothing(cloud, owner, accepted)
    assert _scratch_files(cloud) == []
    previews = f"/{cloud.settings.data_bucket}/{keys.preview_prefix(owner, accepted['training_id'])}"
    assert any(path.startswith(previews) for path in proxy.passed)  # uploaded, then removed again
    # the input archive and the record stay (the training is reported failed, not lost)
    kept = _objects(cloud, cloud.settings.data_bucket, keys.training_prefix(owner, accepted["training_id"]))
    assert keys.training_input_key(owner, accepted["training_id"]) in kept


def test_a_triton_crash_mid_request_is_retryable_and_the_model_reloads(
    cloud: LocalCloud, inbox: NotificationInbox
) -> None:
    owner = cloud.owner_id(cloud.principals[0])
    accepted, raw = _train(cloud, inbox, "served", FAST_TRAINING)
    assert raw["invocationStatus"] == "Completed", raw.get("failureReason")
    model_id = accepted["model_id"]
    client = client_for(cloud, cloud.principals[0])
    client.generate(model_id, "a photo of <<TOK>>", width=64, height=64, num_inference_steps=1, seed=1)
    host = cloud.runtime.host(cloud.settings.hosting_endpoint)
    target = keys.target_model(owner, model_id)
    assert host is not None and host.loaded_models() == [target]

    old = cloud.hosting
    body = {
        "prompt": "a photo of <<TOK>>",
        "width": 512,
        "height": 512,
        "num_inference_steps": 100,
        "seed": 2,
    }
    answer: dict[str, requests.Response] = {}
    call = threading.Thread(
        target=lambda: answer.setdefault(
            "r", signed_call(cloud, cloud.principals[0], "POST", f"/models/{model_id}/generations", body)
        )
    )
    call.start()
    time.sleep(3)  # the engine is rendering
    assert call.is_alive(), "the generation finished before the crash: make it longer"
    os.killpg(old.process.pid, signal.SIGKILL)  # Triton and its Python backend stubs
    call.join(60)
    response = answer["r"]
    assert response.status_code == 503, response.text  # retryable, with Retry-After
    assert response.headers.get("Retry-After") and response.json()["error"]["code"]
    assert host.loaded_models() == []  # the host forgot what the dead server had loaded

    _wait(lambda: cloud.supervisor.restarts("hosting") == 1, 300, "Triton restarted")
    assert cloud.hosting is not old and cloud.hosting.is_running()
    again = client.generate(
        model_id, "a photo of <<TOK>>", width=64, height=64, num_inference_steps=1, seed=3
    )
    assert len(again.images) == 1
    assert host.loaded_models() == [target] and host.load_seconds(target) is not None  # loaded again
    # nothing of the old server is left: its processes, its work folder, stale extracted models
    assert not [p for p in Path("/proc").glob("[0-9]*") if _group_of(p) == old.process.pid]
    assert sorted(p.name for p in host.work_dir.iterdir()) == [model_name_for(target)]


def _group_of(proc: Path) -> int | None:
    try:
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[2]) if fields[0] != "Z" else None
