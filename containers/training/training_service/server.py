"""SageMaker's container contract over HTTP: `GET /ping` and `POST /invocations` (port 8080).

A threaded standard-library server: the contract is two routes, and a training holds its request for up
to an hour, so /ping must be answered from another thread meanwhile — a web framework would add nothing
here. Start it in-process with `create_server(port, settings)` or as `python -m training_service.server
--port N` (what `serve` runs). The body of /invocations is the training input archive; the answer is
`TrainingResult` JSON (200) or `TrainingFailure` JSON with a 4xx/5xx status.

Request header `X-Amzn-SageMaker-Inference-Id`, when it is a training id, names trainings whose archive
is in the reference layout (its config carries no id).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from avatar_contract.names import Runtime
from avatar_contract.training import TrainingFailure
from avatar_runtime.safe_tar import python_has_tarfile_fixes
from training_service.deadline import peer_closed
from training_service.errors import InvalidInput, TooLarge, TrainingError
from training_service.service import TrainingService
from training_service.settings import Settings

logger = logging.getLogger(__name__)

INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"
_CHUNK = 1 << 20


class _Handler(BaseHTTPRequestHandler):
    server: TrainingServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # route access logs to logging
        logger.debug("%s " + format, self.address_string(), *args)

    def _send_json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the caller has gone (a cancelled training)
            self.close_connection = True
            logger.info("the caller closed the connection before the %d answer", status)

    def _fail(self, status: int, reason: str, training_id: str | None = None) -> None:
        self._send_json(status, TrainingFailure(reason=reason, training_id=training_id).model_dump())

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/ping":
            problem = self.server.service.health_problem()
            if problem:  # SageMaker takes any non-200 as unhealthy (docs/gpu-runtime.md)
                self._send_json(503, {"status": "unhealthy", "reason": problem})
            else:
                self._send_json(200, {"status": "healthy", "training": self.server.service.busy})
        else:
            self._send_json(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/invocations":
            self.close_connection = True
            self._send_json(404, {"error": f"no route {self.path}"})
            return
        service = self.server.service
        # The budget counts from the request's arrival; the probe tells the job when its caller has gone.
        control = service.new_control(lambda: peer_closed(self.connection))
        with tempfile.TemporaryDirectory(prefix="invocation-") as tmp:
            archive = Path(tmp) / "input.tar"
            try:
                self._receive_body(archive)
                result = service.run(archive, self.headers.get(INFERENCE_ID_HEADER), control)
            except TrainingError as exc:
                logger.warning("training %s failed (%d): %s", exc.training_id, exc.status, exc.reason)
                self._fail(exc.status, exc.reason, exc.training_id)
                return
        self._send_json(200, result.model_dump())

    def _receive_body(self, target: Path) -> None:
        """Stream the body to `target`, refusing bodies without a length or over the limit."""
        length_header = self.headers.get("Content-Length")
        if length_header is None or not length_header.isdigit():
            self.close_connection = True
            raise TooLarge("the request needs a Content-Length header")
        length = int(length_header)
        limit = self.server.service.settings.max_body_bytes
        if length > limit:
            self.close_connection = True  # do not read an oversized body
            raise TooLarge(f"the request body is {length} bytes; the limit is {limit}")
        with target.open("wb") as out:
            remaining = length
            while remaining:
                chunk = self.rfile.read(min(_CHUNK, remaining))
                if not chunk:
                    raise InvalidInput("the request body ended before Content-Length bytes")
                out.write(chunk)
                remaining -= len(chunk)


class TrainingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], service: TrainingService) -> None:
        super().__init__(address, _Handler)
        self.service = service


def create_server(
    port: int = Runtime.CONTAINER_PORT, settings: Settings | None = None, host: str = "0.0.0.0",
    service: TrainingService | None = None,
) -> TrainingServer:  # fmt: skip
    """A bound server (port 0 picks a free one: see `server.server_address`); call `serve_forever()`."""
    return TrainingServer((host, port), service or TrainingService(settings or Settings.from_env()))


def serve_in_thread(server: TrainingServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="training-server", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The training service (SageMaker container contract).")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=Runtime.CONTAINER_PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    server = create_server(args.port, Settings.from_env(), args.host)
    logger.info("training service listening on %s:%d", *server.server_address[:2])
    if not python_has_tarfile_fixes(sys.version_info[:3]):  # docs/limits-training.md
        logger.warning("Python %s predates the tarfile security fixes", sys.version.split()[0])
    threading.Thread(target=server.service.warm_up, name="warm-up", daemon=True).start()
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
