"""The training service on a real port, with moto's S3 behind it and the tiny model as its base."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.fixtures.moto_aws import mocked_aws
from tests.torch_threads import one_torch_thread  # noqa: F401  (autouse fixture for this folder)
from training_service.server import create_server, serve_in_thread
from training_service.service import TrainingService
from training_service.settings import ArchiveLimits, Settings
from training_service.storage import S3Store

ROOT = Path(__file__).resolve().parents[3]
HOSTING_BUCKET = "avatar-hosting-test"
DATA_BUCKET = "avatar-data-test"


@dataclass
class Response:
    status: int
    body: dict[str, Any]


@dataclass
class RunningService:
    url: str
    s3: Any
    service: TrainingService

    def post(self, body: bytes, headers: dict[str, str] | None = None) -> Response:
        request = urllib.request.Request(
            f"{self.url}/invocations", data=body, method="POST",
            headers={"Content-Type": "application/octet-stream", **(headers or {})},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=300) as reply:
                return Response(reply.status, json.loads(reply.read()))
        except urllib.error.HTTPError as error:
            return Response(error.code, json.loads(error.read()))

    def get(self, path: str) -> Response:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as reply:
            return Response(reply.status, json.loads(reply.read()))

    def keys(self, bucket: str) -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_aws(monkeypatch):
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=HOSTING_BUCKET)
        s3.create_bucket(Bucket=DATA_BUCKET)
        yield s3


@pytest.fixture(scope="session")
def class_image_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache directory for the session: class images are generated once, as on an instance."""
    return tmp_path_factory.mktemp("training-cache")


@pytest.fixture
def settings(tiny_model_dir: Path, class_image_cache: Path, tmp_path: Path) -> Settings:
    return Settings(
        base_model=str(tiny_model_dir),
        cache_dir=class_image_cache,
        hosting_bucket=HOSTING_BUCKET,
        data_bucket=DATA_BUCKET,
        device="cpu",
        log_every=2,
        sample_steps=3,
        max_body_bytes=64 * 2**20,
        limits=ArchiveLimits(
            max_unpacked_bytes=32 * 2**20, max_image_bytes=8 * 2**20, max_image_pixels=4_000_000
        ),
    )


def start(service: TrainingService) -> Iterator[RunningService]:
    server = create_server(0, host="127.0.0.1", service=service)
    thread = serve_in_thread(server)
    try:
        yield RunningService(f"http://127.0.0.1:{server.server_address[1]}", service.store.client, service)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def running(aws: Any, settings: Settings) -> Iterator[RunningService]:
    yield from start(TrainingService(settings, S3Store(aws)))


@contextlib.contextmanager
def serving_process(tiny_model_dir: Path, cache_dir: Path, **extra_env: str) -> Iterator[str]:
    """`python -m training_service.server` on a free port; yields its base URL."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "containers" / "training")]),
        "AVATAR_BASE_MODEL": str(tiny_model_dir),
        "AVATAR_CACHE_DIR": str(cache_dir),
        **extra_env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "training_service.server", "--host", "127.0.0.1", "--port", "0"],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        port = None
        for line in process.stderr:
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match[1])
                break
        assert port, "the service did not report its port"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
