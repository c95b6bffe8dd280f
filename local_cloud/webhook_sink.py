"""The webhook sink: a stand-in for a receiver's public HTTPS endpoint (docs/local-cloud.md, "Webhooks").

An HTTPS server on 127.0.0.1 with a certificate for `HOST` signed by a throwaway CA made at start, that
answers every POST 200 and records it (path, headers, body). The product's `WebhookSender` refuses
loopback addresses and trusts only the system's CAs, so the local cloud's Lambda sandboxes get, in code
(`install_sender`, called by `local_cloud.lambda_worker` when given `--webhook-ca`), a sender that admits
127.0.0.1/32, trusts the sink's CA and resolves `HOST` — and only `HOST` — to 127.0.0.1. No environment
variable or setting reaches these; the only thing the local cloud adds to the functions' environment is
the sink's port among the allowed webhook ports (`AVATAR_WEBHOOK_PORTS`, cdk.json `webhookPorts`).
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from local_cloud.http_server import Answer, LocalHttpServer, Request

if TYPE_CHECKING:
    from avatar_api.adapters.webhooks import WebhookSender

HOST = "webhooks.local-cloud.test"  # .test: reserved (RFC 6761), never a real name
LOOPBACK = "127.0.0.1"
MAX_BODY_BYTES = 1024 * 1024
log = logging.getLogger(__name__)  # the access log, as the other stand-ins keep theirs


@dataclass(frozen=True)
class Delivery:
    path: str  # path and query, as sent
    headers: dict[str, str]
    body: bytes


def make_certificates(directory: Path, host: str = HOST) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for `host` it signed: (ca.pem, server.pem, server.key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "avatar local cloud webhook sink CA")])
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2)
    ca = (
        x509.CertificateBuilder(issuer_name=ca_name, subject_name=ca_name)
        .not_valid_before(start)
        .not_valid_after(end)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder(
            issuer_name=ca_name,
            subject_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]),
        )
        .not_valid_before(start)
        .not_valid_after(end)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].touch(mode=0o600)
    paths[2].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


class WebhookSink:
    """`start()`, then `url(path)` is a webhook URL the local cloud's functions deliver to; `deliveries`
    what came, in order; `wait_for(match, count)` until enough matching ones came."""

    def __init__(self, directory: Path) -> None:
        self.ca_path, cert, key = make_certificates(directory)
        self._deliveries: list[Delivery] = []
        self._arrived = threading.Condition()
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        self._server = LocalHttpServer(
            "webhook-sink",
            self._receive,
            on_error=lambda error: (500, {}, b""),
            access_log=log,
            max_body_bytes=MAX_BODY_BYTES,
            on_too_large=lambda: (413, {}, b""),
            tls=tls,
        )
        self.port = self._server.port
        self.listening_url = self._server.url  # https://127.0.0.1:<port>
        self.start = self._server.start
        self.stop = self._server.stop

    def url(self, path: str = "/") -> str:
        return f"https://{HOST}:{self.port}{path}"

    def _receive(self, request: Request) -> Answer:
        """Every POST is recorded and answered 200 (any other method 501, as `http.server` answers one
        it has no handler for)."""
        if request.method != "POST":
            return 501, {}, b""
        self._record(Delivery(request.target, dict(request.headers), request.body))
        return 200, {}, b""

    def _record(self, delivery: Delivery) -> None:
        with self._arrived:
            self._deliveries.append(delivery)
            self._arrived.notify_all()

    @property
    def deliveries(self) -> list[Delivery]:
        with self._arrived:
            return list(self._deliveries)

    def wait_for(self, match: Callable[[Delivery], bool], count: int, timeout: float = 60) -> list[Delivery]:
        """The matching deliveries once there are at least `count` (TimeoutError after `timeout` s)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(found := [d for d in self._deliveries if match(d)]) < count:
                if not self._arrived.wait(deadline - time.monotonic()) and time.monotonic() >= deadline:
                    raise TimeoutError(f"{len(found)} of {count} webhook deliveries arrived")
            return found


def local_sender(ca_certs: str) -> WebhookSender:
    """The product's sender with three things changed, in code only: 127.0.0.1/32 counts as allowed, the
    sink's CA is the trust store, and `HOST` resolves to 127.0.0.1 (every other name as in the product,
    so a name that resolves to loopback is still refused)."""
    from avatar_api.adapters.webhooks import WebhookSender, resolve

    def resolver(host: str, port: int) -> list[str]:
        return [LOOPBACK] if host == HOST else resolve(host, port)

    return WebhookSender(
        allowed_networks=(ipaddress.ip_network(f"{LOOPBACK}/32"),), ca_certs=ca_certs, resolver=resolver
    )


def install_sender(ca_certs: str) -> None:
    """In a Lambda sandbox of the local cloud: the functions' services send webhooks with `local_sender`."""
    from avatar_api.services import get_services, use_services

    use_services(replace(get_services(), webhooks=local_sender(ca_certs)))
