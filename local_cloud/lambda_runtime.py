"""Runs the real Lambda handlers the way Lambda does: each function in its own worker processes, with
the function's environment variables, a Lambda context object, one event at a time per worker, and a
timeout after which the worker is killed.

Separate processes (not threads in the caller) matter: the handlers read their configuration from the
environment and cache boto3 clients at module level, exactly as in Lambda, and that must not leak into
the process that embeds the local cloud (a test run, the demo).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from avatar_contract.names import API_TIMEOUT_SECONDS
from avatar_contract.routes import Function
from local_cloud.settings import ACCOUNT_ID

log = logging.getLogger(__name__)
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 1024  # Lambda's synchronous response limit (plus our framing)
REPO_ROOT = Path(__file__).resolve().parent.parent


class LambdaInvocationError(Exception):
    """The function raised (API Gateway answers 502)."""


class LambdaTimeout(Exception):
    """The function ran past its timeout (API Gateway answers 504)."""


class _Worker:
    """One warm sandbox: `python -m local_cloud.lambda_worker <handler>` with the function's env.

    Requests and results travel as JSON lines over the child's stdin and a duplicate of its original
    stdout; the child points its own stdout/stderr at the function's log file (what Lambda sends to
    CloudWatch Logs), so the handler's logging cannot corrupt the protocol."""

    def __init__(
        self, function: Function, env: dict[str, str], log_path: Path, webhook_ca: Path | None = None
    ) -> None:
        log_file = log_path.open("ab")
        command = [sys.executable, "-m", "local_cloud.lambda_worker", function.handler]
        if webhook_ca is not None:  # webhooks go to the local cloud's sink (local_cloud/webhook_sink.py)
            command += ["--webhook-ca", str(webhook_ca)]
        try:
            self.process = subprocess.Popen(
                command,
                env=env,
                cwd=REPO_ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                start_new_session=True,
            )
        finally:
            log_file.close()
        assert self.process.stdin is not None and self.process.stdout is not None
        self._in, self._out = self.process.stdin, self.process.stdout
        self.ready = False

    def _read_line(self, deadline: float) -> dict[str, Any]:
        if not select.select([self._out], [], [], max(0.0, deadline - time.monotonic()))[0]:
            raise LambdaTimeout("timed out")
        line = self._out.readline()
        if len(line) > MAX_RESPONSE_BYTES:
            raise LambdaInvocationError(
                {
                    "errorType": "Function.ResponseSizeTooLarge",
                    "errorMessage": "Response payload size exceeded",
                }
            )
        if not line:
            raise LambdaInvocationError(
                {"errorType": "Runtime.ExitError", "errorMessage": f"exit status {self.process.poll()}"}
            )
        return json.loads(line)

    def invoke(self, event: dict[str, Any], context: dict[str, Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        if not self.ready:  # the cold start (imports) counts against the timeout, as in Lambda
            self._read_line(deadline)
            self.ready = True
        self._in.write(json.dumps({"event": event, "context": context}).encode() + b"\n")
        self._in.flush()
        try:
            message = self._read_line(deadline)
        except LambdaTimeout:
            raise LambdaTimeout(f"Task timed out after {timeout:.2f} seconds") from None
        if "error" in message:
            raise LambdaInvocationError(message["error"])
        return message["result"]

    def stop(self) -> None:
        """Killed at once with its process group, idle or still importing: a sandbox keeps nothing worth
        waiting for (its output went straight to the function's log file), and an idle one ending on its
        own spends ~0.2 s in interpreter shutdown."""
        with contextlib.suppress(OSError):
            self._in.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(2)
        self._out.close()


class LambdaFunction:
    """One function: a pool of warm workers (up to `max_concurrency`), spawned on demand."""

    def __init__(
        self,
        function: Function,
        env: dict[str, str],
        log_dir: Path,
        region: str,
        timeout_seconds: float = API_TIMEOUT_SECONDS,
        memory_mb: int = 1024,
        max_concurrency: int = 3,
        physical_name: str | None = None,
        webhook_ca: Path | None = None,
    ) -> None:
        self.function = function
        self.webhook_ca = webhook_ca  # the webhook sink's CA (local_cloud/webhook_sink.py), if any
        self.name = physical_name or function.name
        self.env = {
            **env,
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            "_HANDLER": function.handler,
        }
        self.log_path = log_dir / f"lambda-{function.name}.log"
        self.region = region
        self.timeout = timeout_seconds
        self.memory_mb = memory_mb
        self.max_concurrency = max_concurrency
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._count = 0
        self._cond = threading.Condition()
        self._closed = False

    def prewarm(self) -> None:
        """Start one worker now so the first request does not pay the whole import time."""
        with self._cond:
            self._idle.append(self._spawn())

    def _spawn(self) -> _Worker:
        self._count += 1
        worker = _Worker(self.function, self.env, self.log_path, self.webhook_ca)
        self._all.append(worker)
        return worker

    def pids(self) -> list[int]:
        """Process ids of every sandbox this function started (running or not)."""
        return [worker.process.pid for worker in self._all]

    def _acquire(self) -> _Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise LambdaInvocationError("local cloud is shutting down")
                if self._idle:
                    return self._idle.pop()
                if self._count < self.max_concurrency:
                    return self._spawn()
                self._cond.wait()

    def _release(self, worker: _Worker, healthy: bool) -> None:
        with self._cond:
            if healthy and not self._closed:
                self._idle.append(worker)
            else:
                self._count -= 1
                threading.Thread(target=worker.stop, daemon=True).start()
            self._cond.notify()

    def invoke(self, event: dict[str, Any]) -> Any:
        request_id = str(uuid.uuid4())
        context = {
            "function_name": self.name,
            "aws_request_id": request_id,
            "memory_limit_in_mb": self.memory_mb,
            "invoked_function_arn": f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.name}",
            "deadline_ms": int((time.time() + self.timeout) * 1000),
            "log_group_name": f"/aws/lambda/{self.name}",
        }
        worker = self._acquire()
        healthy = False
        try:
            result = worker.invoke(event, context, self.timeout)
            healthy = True
            return result
        except LambdaInvocationError:
            healthy = worker.process.poll() is None
            raise
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise LambdaInvocationError({"errorType": "Runtime.ExitError", "errorMessage": str(exc)}) from exc
        finally:
            self._release(worker, healthy)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for worker in idle:
            worker.stop()
