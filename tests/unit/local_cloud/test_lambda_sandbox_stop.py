"""Stopping a Lambda sandbox (`local_cloud.lambda_runtime._Worker`) waits for nothing: idle or still
importing its handler, it is killed at once (it keeps nothing worth waiting for)."""

from __future__ import annotations

import os
import select
import signal
import time
from pathlib import Path

from avatar_contract.routes import Function
from local_cloud.lambda_runtime import _Worker


def test_a_sandbox_still_importing_its_handler_is_killed_at_once(tmp_path: Path) -> None:
    (tmp_path / "slow_handler.py").write_text(
        "import time\ntime.sleep(60)\n\n\ndef handler(event, context):\n    pass\n"
    )
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path)}
    worker = _Worker(Function("slow", "slow_handler.handler"), env, tmp_path / "log")
    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 0.2  # not the 0.2 s it used to get to end on its own
    assert worker.process.returncode == -signal.SIGKILL


def test_an_idle_sandbox_is_killed_at_once_too(tmp_path: Path) -> None:
    worker = _Worker(Function("f", "json.dumps"), {"PATH": os.environ["PATH"]}, tmp_path / "log")
    assert select.select([worker.process.stdout], [], [], 60)[0], "the sandbox never said it was ready"
    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 0.2
    assert worker.process.returncode == -signal.SIGKILL
