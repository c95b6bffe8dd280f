"""The hosting container's front door: SageMaker's multi-model calls reach Triton only through it.

SageMaker extracts a model archive and asks the container to load it (`POST /models {model_name, url}`);
Triton would load whatever that folder holds. The gate checks the folder first
(`hosting_server.model_gate.check_user_model`): a per-user model with any other file, another backend or an
execution environment is answered 400 with the reason and never reaches Triton. Every other call
(`/ping`, list, describe, invoke, unload) is passed through unchanged, status, headers and body, to Triton's
SageMaker front end on an internal port; when Triton does not answer, the caller's connection is dropped,
as it would be by a crashed container.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from avatar_contract.families import FamilyName, family_from_env
from hosting_server.model_gate import RefusedModel, check_user_model, template_config

log = logging.getLogger(__name__)

UPSTREAM_TIMEOUT_S = 3600.0  # SageMaker bounds its own calls (load ≤ 360 s, invoke ≤ 60 s)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}


def load_refusal(
    body: bytes, template: bytes, served_family: FamilyName | None = None
) -> tuple[int, str] | None:
    """The HTTP status and reason a `POST /models` body is refused with (409: a model of another base
    family than `served_family`), or None when it may reach Triton."""
    malformed = (400, "a load request is a JSON object with model_name and url")
    try:
        request = json.loads(body)
    except ValueError:
        return malformed
    if not isinstance(request, dict) or not isinstance(request.get("url"), str):
        return malformed
    name = request.get("model_name")
    try:
        check_user_model(request["url"], template, served_family)
    except RefusedModel as refused:
        return refused.status, f"model {name!r} refused: {refused}"
    except OSError as err:
        return 400, f"model {name!r} refused: its folder cannot be read ({err.strerror})"
    return None


class ModelGate(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        upstream_port: int,
        upstream_host: str = "127.0.0.1",
        served_family: FamilyName | None = None,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.template = template_config()
        # The base family this endpoint serves (AVATAR_BASE_FAMILY, set by the CDK app).
        self.served_family = served_family or family_from_env().name
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), int(self.server_address[1])
        return f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"

    def start(self) -> ModelGate:
        # A short poll interval: stop() (shutdown) returns within it rather than serve_forever's 0.5 s.
        threading.Thread(target=self.serve_forever, args=(0.02,), name="model-gate", daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ModelGate

    def log_message(self, format: str, *args: object) -> None:
        log.debug(format, *args)

    def do_GET(self) -> None:
        self._pass()

    do_POST = do_DELETE = do_PUT = do_HEAD = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _pass(self) -> None:
        body = self._read_body()
        if self.command == "POST" and urlsplit(self.path).path.rstrip("/") == "/models":
            refusal = load_refusal(body, self.server.template, self.server.served_family)
            if refusal is not None:
                status, reason = refusal
                log.warning("refused a model load: %s", reason)
                self._answer(
                    status, [("Content-Type", "application/json")], json.dumps({"error": reason}).encode()
                )
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        connection = http.client.HTTPConnection(*self.server.upstream, timeout=UPSTREAM_TIMEOUT_S)
        try:
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            data = response.read()
            self._answer(
                response.status,
                [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP],
                data,
            )
        except OSError as err:
            # Triton is not (yet, or any more) answering: the caller sees what it would see without the
            # gate, a dropped connection (SageMaker then restarts the container, whose `serve` exits too).
            log.warning("the model server did not answer %s %s: %s", self.command, self.path, err)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        finally:
            connection.close()

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
