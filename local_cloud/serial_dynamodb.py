"""DynamoDB requests one at a time on moto (standard library only: the API tests on the Lambda runtime's
Python import it without moto's server and its Flask)."""

from __future__ import annotations

import threading
from typing import Any


class OneDynamoDbRequestAtATime:
    """DynamoDB applies each request (its condition and its write) atomically; moto checks and writes in
    separate steps that threads can interleave, so two conditional updates (a quota, docs/limits.md) could
    both pass. On moto, DynamoDB requests therefore run one at a time: as WSGI middleware around moto's
    server (`wsgi`, the local cloud), or around an in-process moto client (`client`, the API tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def wsgi(self, app: Any) -> Any:
        def serve(environ: dict[str, Any], start_response: Any) -> Any:
            if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
                return app(environ, start_response)
            with self._lock:
                return list(app(environ, start_response))

        return serve

    def client(self, client: Any) -> Any:
        return _OneCallAtATime(client, self._lock)


class _OneCallAtATime:
    def __init__(self, client: Any, lock: threading.Lock) -> None:
        self._client, self._lock = client, lock

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith("_") or not callable(attribute):
            return attribute

        def one_at_a_time(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return one_at_a_time
