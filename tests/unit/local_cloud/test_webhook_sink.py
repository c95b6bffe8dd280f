"""The local cloud's webhook sink: a TLS server on 127.0.0.1 with a throwaway CA, delivered to by the
product's `WebhookSender` with the local cloud's in-code changes only (local_cloud/webhook_sink.py)."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from avatar_api.adapters.webhooks import WebhookFailed, WebhookRefused, WebhookSender
from avatar_api.domain.webhooks import signed_headers
from avatar_client.webhooks import verify_webhook
from avatar_contract.names import Env
from avatar_contract.routes import Function
from local_cloud.lambda_runtime import _Worker
from local_cloud.webhook_sink import HOST, WebhookSink, local_sender


@pytest.fixture
def sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookSink]:
    sink = WebhookSink(tmp_path / "sink")
    sink.start()
    monkeypatch.setenv(Env.WEBHOOK_PORTS, f"443,{sink.port}")  # what the local cloud's functions get
    yield sink
    sink.stop()


def test_a_signed_delivery_is_recorded(sink: WebhookSink) -> None:
    body = json.dumps({"type": "pack.completed"}).encode()

    status = local_sender(str(sink.ca_path)).post(
        sink.url("/hooks?token=t0k"), body, signed_headers(["s3cret"], body)
    )

    assert status == 200
    (delivery,) = sink.wait_for(lambda d: d.path == "/hooks?token=t0k", 1, timeout=5)
    assert delivery.body == body and delivery.headers["Host"] == f"{HOST}:{sink.port}"
    assert verify_webhook("s3cret", delivery.headers, delivery.body)
    assert not verify_webhook("other", delivery.headers, delivery.body)


def test_the_products_sender_does_not_deliver_to_the_sink(sink: WebhookSink) -> None:
    resolves_to_sink = WebhookSender(resolver=lambda host, port: ["127.0.0.1"])
    with pytest.raises(WebhookRefused, match="non-public"):  # loopback is not public
        resolves_to_sink.post(sink.url(), b"{}", {})
    trusts_system_cas = WebhookSender(
        allowed_networks=local_sender(str(sink.ca_path)).allowed_networks,
        resolver=lambda host, port: ["127.0.0.1"],
    )
    with pytest.raises(WebhookFailed):  # the throwaway CA is not a public one
        trusts_system_cas.post(sink.url(), b"{}", {})
    assert sink.deliveries == []


def test_only_the_sinks_name_is_mapped_to_loopback(sink: WebhookSink) -> None:
    sender = local_sender(str(sink.ca_path))
    with pytest.raises(WebhookRefused, match="not a public address"):
        sender.post(f"https://127.0.0.1:{sink.port}/", b"{}", {})  # an IP literal: checked as ever
    with pytest.raises((WebhookRefused, WebhookFailed)):  # resolved as in the product (::1 is refused too)
        sender.post(f"https://localhost:{sink.port}/", b"{}", {})
    with pytest.raises(WebhookRefused, match="port"):  # ports: only those allowed
        sender.post(f"https://{HOST}:{_free_port()}/", b"{}", {})
    assert sink.deliveries == []


def test_the_sink_listens_over_tls_and_stops_at_once_even_if_never_started(tmp_path: Path) -> None:
    sink = WebhookSink(tmp_path / "sink")
    assert sink.listening_url == f"https://127.0.0.1:{sink.port}"
    stopping = threading.Thread(target=sink.stop, daemon=True)  # a shutdown() would wait forever
    stopping.start()
    stopping.join(5)
    assert not stopping.is_alive()


def test_the_sandbox_gets_the_ca_as_an_argument_not_an_environment_variable(tmp_path: Path) -> None:
    worker = _Worker(Function("f", "json.dumps"), {"PATH": "/usr/bin"}, tmp_path / "log", tmp_path / "ca.pem")
    try:
        command = [sys.executable, "-m", "local_cloud.lambda_worker", "json.dumps"]
        assert worker.process.args == [*command, "--webhook-ca", str(tmp_path / "ca.pem")]
    finally:
        worker.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
