"""The local cloud's start-up and shutdown, as `make demo` starts it, warm (the tiny base model already
built in the state folder): each boot in a fresh interpreter (`python -m benchmarks.bench_local_cloud`,
the child), timing `LocalCloud(...).start()` and `.stop()` there, plus the start-up of each component
(local_cloud/components.py) and when it began, so a slow part and the critical path show by name.

Targets (issue 22): start-up ≤ 8 s and shutdown ≤ 1 s on the development machine (2 cores)."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, Result, Stats, fmt_stats, run_json_subprocess

NAME = "local_cloud"
RUNS = 3
BOOT_TIMEOUT_S = 600


def run(toy: bool = False) -> Result:
    result = Result(NAME, "local cloud: start-up and shutdown (warm)", toy)
    result.settings = {
        "command": "python -m benchmarks --only local_cloud",
        "runs": RUNS,
        "warm": "the tiny base model built once before the measured boots",
    }
    if toy:
        result.skip("local cloud start and stop", "each boot takes seconds of 2 cores: not at toy size")
        return result
    with tempfile.TemporaryDirectory(prefix="bench-local-cloud-") as work:
        state = str(Path(work) / "state")
        run_json_subprocess(__name__, {"state_dir": state}, BOOT_TIMEOUT_S)  # warm-up: builds the model
        boots = [run_json_subprocess(__name__, {"state_dir": state}, BOOT_TIMEOUT_S) for _ in range(RUNS)]
    result.add(Figure("local cloud", "start-up", "s", Stats([b["start_s"] for b in boots])))
    result.add(Figure("local cloud", "shutdown", "s", Stats([b["stop_s"] for b in boots])))
    for component in boots[0]["components"]:
        began = Stats([b["began"][component] for b in boots])  # after start() was called: the critical path
        samples = [b["components"][component] for b in boots]
        result.add(
            Figure(
                f"component: {component}",
                "start-up",
                "s",
                Stats(samples),
                note=f"began at {fmt_stats(began, ' s')}",
            )
        )
    return result


def boot(state_dir: Path) -> dict[str, Any]:
    """One start and stop of the demo's local cloud in this process; the seconds each took."""
    from local_cloud.cloud import LocalCloud
    from local_cloud.demo import DEMO_CONTAINER_ENV

    cloud = LocalCloud(state_dir=state_dir, extra_container_env=DEMO_CONTAINER_ENV)
    started = time.perf_counter()
    cloud.start()
    start_s = time.perf_counter() - started
    started = time.perf_counter()
    cloud.stop()
    stop_s = time.perf_counter() - started
    components = cloud.components
    return {
        "start_s": start_s,
        "stop_s": stop_s,
        "components": components.started_in,
        "began": components.started_at,
    }


if __name__ == "__main__":
    payload = json.loads(sys.stdin.read())
    print(json.dumps(boot(Path(payload["state_dir"]))))
