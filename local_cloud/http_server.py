"""The HTTP server under the local cloud's stand-ins (`ServedOverHttp`) and its webhook sink (over TLS): a
`ThreadingHTTPServer` on 127.0.0.1 (a free port) served from a daemon thread, that hands each request to a
function and sends back what it returns, always with a Content-Length (and no body for HEAD)."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import SplitResult

from local_cloud.sigv4 import Principal, verify_sigv4

Answer = tuple[int, dict[str, str], bytes]
# How often serve_forever looks for shutdown(): stop() returns within about this long (the default 0.5 s
# per server added up to seconds over the local cloud's servers).
POLL_INTERVAL_S = 0.02


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query, as sent
    headers: list[tuple[str, str]]  # in the order they came
    body: bytes
    client_ip: str


class LocalHttpServer:
    """`respond(request)` answers every request; if it raises, `on_error(error)` does (a bug in the local
    cloud must still answer, as the service's own 5xx would). A body over `max_body_bytes` is answered by
    `on_too_large()` without being read. Each request is logged to `access_log` with its duration."""

    def __init__(
        self,
        name: str,
        respond: Callable[[Request], Answer],
        on_error: Callable[[Exception], Answer],
        access_log: logging.Logger,
        max_body_bytes: int | None = None,
        on_too_large: Callable[[], Answer] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self._respond, self._on_error, self._on_too_large = respond, on_error, on_too_large
        self._max_body_bytes = max_body_bytes
        self.access_log = access_log
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._scheme = "https" if tls else "http"
        if tls:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(POLL_INTERVAL_S,), name=name, daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # never started: no serve_forever to shut down, no thread to join
            self._server.shutdown()
            self._thread.join(1)
        self._server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler) -> Answer:
        length = int(handler.headers.get("Content-Length") or 0)
        if self._max_body_bytes is not None and length > self._max_body_bytes and self._on_too_large:
            handler.close_connection = True
            return self._on_too_large()
        body = handler.rfile.read(length) if length else b""
        request = Request(
            handler.command, handler.path, list(handler.headers.items()), body, handler.client_address[0]
        )
        try:
            return self._respond(request)
        except Exception as exc:
            self.access_log.exception("%s failed on %s %s", self.name, handler.command, handler.path)
            return self._on_error(exc)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
            server_version = server.name

            def _serve(self) -> None:
                started = time.monotonic()
                status, headers, body = server._answer(self)
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() != "content-length":
                        self.send_header(name, value)
                # A HEAD answer may declare the length its GET would have (S3's HEAD Object does).
                declared = headers.get("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", declared or str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                elapsed_ms = (time.monotonic() - started) * 1000
                server.access_log.info("%s %s -> %d (%.0f ms)", self.command, self.path, status, elapsed_ms)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

            def log_message(self, format: str, *args: Any) -> None:  # the access log above instead
                return

        return Handler


class HttpService:
    """A local stand-in answered by the `LocalHttpServer` its `__init__` sets: its URL, start and stop."""

    _server: LocalHttpServer

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()


class ServedOverHttp(HttpService):
    """A local stand-in for an AWS service that accepts requests SigV4-signed by one of `principals` for
    `region`."""

    principals: Mapping[str, Principal]
    region: str

    def _verify_signed_for_this_host(
        self, method: str, target: SplitResult, headers: Mapping[str, str], body: bytes, service: str
    ) -> Principal:
        """The signer of a request addressed to this server (127.0.0.1 or localhost, its port)."""
        port = self._server.port
        return verify_sigv4(
            method=method,
            raw_path=target.path,
            raw_query=target.query,
            headers=headers,
            body=body,
            principals=self.principals,
            service=service,
            region=self.region,
            hosts=(f"127.0.0.1:{port}", f"localhost:{port}"),
        )
