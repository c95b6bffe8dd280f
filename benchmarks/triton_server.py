"""The real Triton server for the load benchmark, started by the hosting container's own launcher
(`hosting_server.triton.start_triton`: SageMaker multi-model mode, `sd_base` loaded at start), and the
client side of SageMaker's multi-model contract (`POST /models`, `DELETE /models/{name}`,
`POST /models/{name}/invoke`)."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def triton_unavailable_reason() -> str | None:
    """Why no Triton can be started on this machine (None when it can)."""
    from hosting_server.triton import TritonNotAvailable, find_triton

    try:
        import tempfile

        with tempfile.TemporaryDirectory() as work:
            find_triton(Path(work))
    except TritonNotAvailable as exc:
        return f"no runnable tritonserver: {exc}"
    return None


@dataclass
class MultiModelClient:
    """SageMaker's multi-model API on a running Triton (`url` is its SageMaker front end)."""

    url: str
    pid: int
    log_tail: Any = None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 900):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read().decode(errors="replace")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")

    def _tail(self) -> str:
        return self.log_tail() if callable(self.log_tail) else ""

    def load(self, name: str, url: Path) -> None:
        status, text = self.request("POST", "/models", {"model_name": name, "url": str(url)})
        if status != 200:
            raise RuntimeError(f"loading {name} failed ({status}): {text[:500]}\n{self._tail()}")

    def unload(self, name: str) -> None:
        status, text = self.request("DELETE", f"/models/{name}")
        if status != 200:
            raise RuntimeError(f"unloading {name} failed ({status}): {text[:500]}\n{self._tail()}")

    def invoke(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        status, text = self.request("POST", f"/models/{name}/invoke", body)
        if status != 200:
            raise RuntimeError(f"invoking {name} failed ({status}): {text[:500]}\n{self._tail()}")
        return json.loads(text)


@contextlib.contextmanager
def sagemaker_triton(base_model: Path, env: dict[str, str] | None = None) -> Iterator[MultiModelClient]:
    """Triton as the hosting container runs it, on a free port; stopped (stubs included) on exit."""
    from hosting_server.triton import start_triton

    # No model gate: the reference design's per-user models carry their own model.py, which the deployed
    # container's gate refuses (issue 21 M1); the benchmark measures both designs' loads.
    server = start_triton(
        base_model=base_model,
        http_port=None,
        env=env,
        startup_timeout_s=900,
        model_gate=False,
    )
    try:
        yield MultiModelClient(server.url, server.process.pid, server.log_tail)
    finally:
        server.stop()
