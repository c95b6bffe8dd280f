"""Webhooks end to end on moto: POST /trainings with a webhook_url, the status consumer POSTs the signed
event to a local TLS server (a certificate for `hooks.test` from a CA made here), retries with backoff,
records every attempt on the record (GET /trainings/{id}), and never re-sends a delivered webhook.

The server listens on 127.0.0.1, which the product refuses; the test injects, in code, a `WebhookSender`
that resolves `hooks.test` to it, treats 127.0.0.1/32 as allowed and trusts the test CA (`ca_certs`)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from avatar_api.adapters.webhooks import WebhookSender
from avatar_api.domain import webhooks as webhook_delivery
from avatar_api.handlers.status_events import lambda_handler
from avatar_api.lambda_context import LocalContext
from avatar_api.services import get_services
from avatar_client import verify_webhook
from avatar_contract.names import Env
from local_cloud.webhook_sink import make_certificates
from tests.fixtures.api import ALICE, owner_id, response_json, selfies
from tests.fixtures.api_backend import Api
from tests.integration.api.test_status_events import complete, notification, sqs_event, topic

__all__ = ["topic"]  # the events topic fixture
ALICE_OWNER = owner_id(ALICE)
HOST = "hooks.test"
OTHER_HOST = "other.test"  # resolves to the same server, whose certificate does not name it
LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)


@dataclass
class Receiver:
    """The local HTTPS server: answers `statuses` in turn (then 200) and keeps what it received."""

    port: int
    ca: Path
    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def url(self, path: str = "/hook?token=t0k") -> str:
        return f"https://{HOST}:{self.port}{path}"

    def sender(self, *, allowed: bool = True, trusted: bool = True) -> WebhookSender:
        return WebhookSender(
            connect_timeout_seconds=2,
            read_timeout_seconds=2,
            allowed_networks=LOOPBACK if allowed else (),
            ca_certs=str(self.ca) if trusted else None,
            resolver=lambda host, port: ["127.0.0.1"] if host in (HOST, OTHER_HOST) else [],
        )


@pytest.fixture
def receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    ca, cert, key = make_certificates(tmp_path, HOST)  # OTHER_HOST is not named
    box: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            box["r"].received.append(({k: v for k, v in self.headers.items()} | {"path": self.path}, body))
            status = box["r"].statuses.pop(0) if box["r"].statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    box["r"] = Receiver(port=server.server_address[1], ca=ca)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(webhook_delivery, "BACKOFF_SECONDS", (0.0, 0.0))
    monkeypatch.setenv(Env.WEBHOOK_PORTS, f"443,{box['r'].port}")  # webhookPorts: this server's port too
    get_services().webhooks = box["r"].sender()
    yield box["r"]
    server.shutdown()
    server.server_close()


def submit_with_webhook(api: Api, url: str) -> tuple[dict[str, Any], str]:
    output, _ = api.queue_training()
    reply = api.call("POST", "/trainings", {"images": selfies(), "webhook_url": url})
    assert reply["statusCode"] == 202, reply["body"]
    return response_json(reply), output


def finish(api: Api, url: str, context: LocalContext | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    accepted, output = submit_with_webhook(api, url)
    complete(api, accepted, output)
    message = notification(accepted, ALICE_OWNER, output)
    assert lambda_handler(sqs_event(message), context or LocalContext()) == {"batchItemFailures": []}
    return accepted, message


def webhook_of(api: Api, training_id: str) -> dict[str, Any]:
    state = response_json(api.call("GET", f"/trainings/{training_id}"))
    return dict(state["webhook"])


def test_the_signed_event_is_delivered_once(api: Api, topic: str, receiver: Receiver) -> None:
    accepted, message = finish(api, receiver.url())

    ((headers, body),) = receiver.received
    secret = response_json(api.call("GET", "/webhooks/secret"))["secret"]
    timestamp = headers["X-Avatar-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Avatar-Signature"], f"sha256={expected}")
    assert headers["Host"] == f"{HOST}:{receiver.port}" and headers["path"] == "/hook?token=t0k"
    event = json.loads(body)
    assert event["training_id"] == accepted["training_id"] and event["status"] == "completed"
    assert event["owner"] == ALICE_OWNER

    # redelivered notification: the delivered webhook is not sent again
    assert lambda_handler(sqs_event(message), LocalContext()) == {"batchItemFailures": []}
    assert len(receiver.received) == 1
    webhook = webhook_of(api, accepted["training_id"])
    assert webhook["url"] == receiver.url() and webhook["delivered"] is True and webhook["done"] is True
    (attempt,) = webhook["attempts"]
    assert attempt["status_code"] == 200 and attempt["error"] is None and attempt["time"]
    assert secret not in json.dumps(webhook)


def test_another_owner_gets_another_secret(api: Api) -> None:
    alice = response_json(api.call("GET", "/webhooks/secret"))
    bob = response_json(api.call("GET", "/webhooks/secret", user="arn:aws:iam::123456789012:user/bob"))
    assert alice["secret"] != bob["secret"] and len(alice["secret"]) == 64


def test_server_errors_are_retried_and_each_attempt_recorded(
    api: Api, topic: str, receiver: Receiver
) -> None:
    receiver.statuses = [500, 429]
    accepted, _ = finish(api, receiver.url())

    assert len(receiver.received) == 3
    webhook = webhook_of(api, accepted["training_id"])
    assert [a["status_code"] for a in webhook["attempts"]] == [500, 429, 200] and webhook["delivered"]
    secret = response_json(api.call("GET", "/webhooks/secret"))["secret"]
    for headers, body in receiver.received:  # each attempt signed with its own timestamp
        message = f"{headers['X-Avatar-Timestamp']}.".encode() + body
        expected = "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        assert headers["X-Avatar-Signature"] == expected


@pytest.mark.parametrize("status", [404, 302])
def test_a_client_error_or_a_redirect_is_not_retried(
    api: Api, topic: str, receiver: Receiver, status: int
) -> None:
    receiver.statuses = [status]
    accepted, message = finish(api, receiver.url())

    assert len(receiver.received) == 1
    webhook = webhook_of(api, accepted["training_id"])
    assert [a["status_code"] for a in webhook["attempts"]] == [status]
    assert webhook["done"] is True and webhook["delivered"] is False
    lambda_handler(sqs_event(message), LocalContext())
    assert len(receiver.received) == 1


def test_three_failed_attempts_end_the_webhook(api: Api, topic: str, receiver: Receiver) -> None:
    receiver.statuses = [503, 503, 503, 200]
    accepted, _ = finish(api, receiver.url())

    webhook = webhook_of(api, accepted["training_id"])
    assert [a["status_code"] for a in webhook["attempts"]] == [503, 503, 503]
    assert webhook["done"] and not webhook["delivered"] and len(receiver.received) == 3


def test_a_name_resolving_to_loopback_is_refused_at_delivery(
    api: Api, topic: str, receiver: Receiver
) -> None:
    """The product's rule (no allowance): hooks.test passed at submission, resolves to 127.0.0.1."""
    get_services().webhooks = receiver.sender(allowed=False)
    accepted, _ = finish(api, receiver.url())

    assert receiver.received == []
    webhook = webhook_of(api, accepted["training_id"])
    (attempt,) = webhook["attempts"]
    assert "non-public" in attempt["error"] and attempt["status_code"] is None
    assert webhook["done"] and not webhook["delivered"]


def test_an_untrusted_certificate_is_not_delivered_to(api: Api, topic: str, receiver: Receiver) -> None:
    """Without the test CA the system trust store decides: the TLS check is real, and retried."""
    get_services().webhooks = receiver.sender(trusted=False)
    accepted, _ = finish(api, receiver.url())

    assert receiver.received == []
    webhook = webhook_of(api, accepted["training_id"])
    assert len(webhook["attempts"]) == 3 and not webhook["delivered"]
    assert all("SSL" in attempt["error"] for attempt in webhook["attempts"])


def test_the_certificate_must_name_the_urls_host(api: Api, topic: str, receiver: Receiver) -> None:
    """The connection goes to the checked address, but TLS checks the URL's name (SNI, hostname)."""
    accepted, _ = finish(api, f"https://{OTHER_HOST}:{receiver.port}/hook")

    assert receiver.received == []
    webhook = webhook_of(api, accepted["training_id"])
    assert len(webhook["attempts"]) == 3 and not webhook["delivered"]
    assert all("SSL" in attempt["error"] or "match" in attempt["error"] for attempt in webhook["attempts"])


def test_out_of_time_the_record_goes_back_to_the_queue_and_continues(
    api: Api, topic: str, receiver: Receiver
) -> None:
    accepted, output = submit_with_webhook(api, receiver.url())
    complete(api, accepted, output)
    event = sqs_event(notification(accepted, ALICE_OWNER, output))

    with pytest.raises(BatchProcessingError, match="All records failed"):  # the whole batch is retried
        lambda_handler(event, LocalContext.with_remaining(5))
    assert receiver.received == [] and webhook_of(api, accepted["training_id"])["attempts"] == []

    assert lambda_handler(event, LocalContext()) == {"batchItemFailures": []}
    assert len(receiver.received) == 1 and webhook_of(api, accepted["training_id"])["delivered"]


@pytest.mark.parametrize(
    "url", ["http://hooks.example.com/", "https://169.254.169.254/", "https://u:p@hooks.example.com/"]
)
def test_submission_refuses_an_unsafe_url(api: Api, url: str) -> None:
    api.queue_training()
    reply = api.call("POST", "/trainings", {"images": selfies(), "webhook_url": url})
    assert reply["statusCode"] == 400 and "webhook_url" in reply["body"]
    assert not [key for key in api.object_keys() if key.endswith("training.json")]


def test_a_training_without_webhook_shows_none(api: Api) -> None:
    api.queue_training()
    accepted = response_json(api.call("POST", "/trainings", {"images": selfies()}))
    assert response_json(api.call("GET", f"/trainings/{accepted['training_id']}"))["webhook"] is None


def test_a_rotated_secret_keeps_the_old_one_signing_for_the_grace_period(
    api: Api, topic: str, receiver: Receiver
) -> None:
    """Issue 21 L3: POST /webhooks/secret/rotate; deliveries carry a signature per valid secret."""
    old = response_json(api.call("GET", "/webhooks/secret"))
    assert old["previous_secret"] is None and old["rotated"] is None
    rotated = api.call("POST", "/webhooks/secret/rotate", {})
    assert rotated["statusCode"] == 200
    new = response_json(rotated)
    assert new["secret"] != old["secret"] and new["previous_secret"] == old["secret"]
    until = datetime.datetime.fromisoformat(new["previous_valid_until"])
    grace = until - datetime.datetime.fromisoformat(new["rotated"])
    assert grace == datetime.timedelta(seconds=new["grace_seconds"]) == datetime.timedelta(hours=24)
    assert response_json(api.call("GET", "/webhooks/secret")) == new
    bob = "arn:aws:iam::123456789012:user/bob"
    assert response_json(api.call("GET", "/webhooks/secret", user=bob))["previous_secret"] is None

    finish(api, receiver.url())
    ((headers, body),) = receiver.received
    assert len(headers["X-Avatar-Signature"].split(",")) == 2
    for secret in (new["secret"], old["secret"]):  # a receiver holding either secret accepts it
        assert verify_webhook(secret, headers, body)
    assert not verify_webhook("0" * 64, headers, body)

    # Rotating again within the grace period: the first secret stops at once, the second one is in grace.
    again = response_json(api.call("POST", "/webhooks/secret/rotate", {}))
    assert again["previous_secret"] == new["secret"]
    assert get_services().webhook_secrets.valid(ALICE_OWNER) == [again["secret"], new["secret"]]
    # After the grace period only the current secret signs.
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=25)
    assert get_services().webhook_secrets.valid(ALICE_OWNER, later) == [again["secret"]]


def test_two_rotations_at_once_one_wins_the_other_is_told(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = get_services().webhook_secrets
    stale = secrets.state(ALICE_OWNER)
    assert api.call("POST", "/webhooks/secret/rotate", {})["statusCode"] == 200
    monkeypatch.setattr(type(secrets), "state", lambda self, owner: stale)  # read before the first won
    lost = api.call("POST", "/webhooks/secret/rotate", {})
    assert lost["statusCode"] == 409 and "rotated" in response_json(lost)["error"]["message"]
