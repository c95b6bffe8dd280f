"""A training instance with a GPU never trains on the CPU (issue 10 B): with `AVATAR_EXPECT_GPU=true` and a
torch that cannot use CUDA (this machine: no driver, CPU torch), /ping is unhealthy and every training
fails, both with a reason naming the driver and torch's CUDA. Without the flag nothing changes."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from avatar_runtime.gpu import EXPECT_GPU_ENV
from tests.fixtures.training_samples import face_photos, tar_bytes, training_config, with_config
from tests.integration.training.conftest import (
    DATA_BUCKET,
    HOSTING_BUCKET,
    RunningService,
    serving_process,
    start,
)
from training_service.service import TrainingService
from training_service.settings import Settings
from training_service.storage import S3Store

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="proves the CPU-only behaviour")


def _request(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        path = "/ping" if method == "GET" else "/invocations"
        connection.request(method, path, body=body, headers={"Content-Type": "application/x-tar"})
        reply = connection.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        connection.close()


def _settled_ping(url: str) -> tuple[int, dict[str, Any]]:
    """/ping after the background GPU check has finished (it says "starting" until then)."""
    deadline = time.monotonic() + 60
    while True:
        status, body = _request(url)
        if "starting" not in body.get("reason", "") or time.monotonic() > deadline:
            return status, body
        time.sleep(0.1)


def _names_driver_and_torch_cuda(reason: str) -> None:
    assert "NVIDIA driver" in reason, reason
    assert f"torch {torch.__version__}" in reason and "CUDA" in reason, reason


@pytest.fixture
def gpu_expected(aws: Any, settings: Settings) -> Iterator[RunningService]:
    expected = replace(
        settings, device="auto", expect_gpu=Settings.from_env({EXPECT_GPU_ENV: "true"}).expect_gpu
    )
    yield from start(TrainingService(expected, S3Store(aws)))


def test_ping_is_unhealthy_and_names_the_driver_and_torch_cuda(gpu_expected: RunningService) -> None:
    status, body = _settled_ping(gpu_expected.url)
    assert status == 503
    assert body["status"] == "unhealthy"
    _names_driver_and_torch_cuda(body["reason"])


def test_every_training_fails_with_that_reason_and_writes_nothing(gpu_expected: RunningService) -> None:
    config = training_config(HOSTING_BUCKET, DATA_BUCKET)
    for _ in range(2):
        status, body = _request(gpu_expected.url, "POST", tar_bytes(with_config(face_photos(4), config)))
        assert status == 503
        assert body["training_id"] == config["training_id"]
        _names_driver_and_torch_cuda(body["reason"])
    assert gpu_expected.keys(HOSTING_BUCKET) == [] and gpu_expected.keys(DATA_BUCKET) == []


def test_cpu_device_on_a_gpu_instance_is_refused(aws: Any, settings: Settings) -> None:
    for running in start(TrainingService(replace(settings, device="cpu", expect_gpu=True), S3Store(aws))):
        status, body = _settled_ping(running.url)
        assert status == 503 and "AVATAR_DEVICE=cpu" in body["reason"]


def test_without_the_flag_ping_stays_healthy(running: RunningService) -> None:
    assert running.service.settings.expect_gpu is False
    assert _request(running.url) == (200, {"status": "healthy", "training": False})


@pytest.mark.slow
def test_server_process_started_with_the_flag_is_unhealthy(tiny_model_dir: Path, tmp_path: Path) -> None:
    with serving_process(tiny_model_dir, tmp_path, **{EXPECT_GPU_ENV: "true"}) as url:
        status, body = _settled_ping(url)
    assert status == 503
    _names_driver_and_torch_cuda(body["reason"])
