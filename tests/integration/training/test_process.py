"""The service as the local cloud starts it: a separate process on a port of its choosing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_module_entry_point_serves_ping(tiny_model_dir: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "containers" / "training")]),
        "AVATAR_BASE_MODEL": str(tiny_model_dir),
        "AVATAR_CACHE_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "training_service.server", "--host", "127.0.0.1", "--port", "0"],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        port = None
        for line in process.stderr:
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match[1])
                break
        assert port, "the service did not report its port"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=10) as reply:
            assert reply.status == 200
            assert json.loads(reply.read()) == {"status": "healthy", "training": False}
    finally:
        process.terminate()
        process.wait(timeout=20)
