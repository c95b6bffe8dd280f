"""The service as the local cloud starts it: a separate process on a port of its choosing."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.integration.training.conftest import serving_process


@pytest.mark.slow
def test_module_entry_point_serves_ping(tiny_model_dir: Path, tmp_path: Path) -> None:
    with (
        serving_process(tiny_model_dir, tmp_path) as url,
        urllib.request.urlopen(f"{url}/ping", timeout=10) as reply,
    ):
        assert reply.status == 200
        assert json.loads(reply.read()) == {"status": "healthy", "training": False}
