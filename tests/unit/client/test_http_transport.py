"""The default urllib transport over real HTTP: the signature still verifies on the server side (with
the headers urllib really sends), and error bodies become AvatarApiError."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from avatar_client import AvatarApiError, AvatarClient
from tests.fixtures.sigv4 import CREDENTIALS, verify_sigv4


class _Handler(BaseHTTPRequestHandler):
    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        host = self.headers["Host"]
        verified = verify_sigv4(
            self.command, f"http://{host}{self.path}", dict(self.headers.items()), body, CREDENTIALS
        )
        if self.path.endswith("/missing"):
            status, document = 404, {"error": {"code": "not_found", "message": "training 'x' not found"}}
        else:
            status, document = (
                (200 if verified else 403),
                {"verified": verified, "echo": json.loads(body or b"null")},
            )
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/prod"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_signed_requests_verify_over_real_http(server: str) -> None:
    client = AvatarClient(server, "us-east-1", credentials=CREDENTIALS)
    assert client.request("GET", "/models")[1]["verified"] is True
    status, document = client.request("POST", "/trainings", {"images": []}, {"Idempotency-Key": "abc"})
    assert (status, document) == (200, {"verified": True, "echo": {"images": []}})


def test_error_bodies_raise_avatar_api_error(server: str) -> None:
    client = AvatarClient(server, "us-east-1", credentials=CREDENTIALS)
    with pytest.raises(AvatarApiError) as error:
        client.request("GET", "/trainings/missing")
    assert (error.value.status, error.value.code) == (404, "not_found")
    assert "not found" in error.value.message
