"""`make demo`'s wall time per step: runs the demo (`python -m local_cloud.demo`, what `make demo` runs
once the virtual environment exists) into a temporary folder and reads the per-step timings it writes
(`timings.json`), plus the wall time of the whole command as seen from outside."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import REPO_ROOT, Figure, Result, Stats

NAME = "demo"


def run(toy: bool = False) -> Result:
    result = Result(NAME, "make demo: wall time per step", toy)
    result.settings = {"command": "python -m local_cloud.demo --out <tmp> --state-dir <tmp>", "runs": 1}
    if toy:
        result.skip("make demo", "takes minutes (the full local cloud and a training): not at toy size")
        return result
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as work:
        out, state = Path(work) / "out", Path(work) / "state"
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "local_cloud.demo", "--out", str(out), "--state-dir", str(state)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"the demo exited {proc.returncode}: {(proc.stderr or proc.stdout)[-2000:]}")
        timings = json.loads((out / "timings.json").read_text())
    for name, seconds in timings.get("steps", []):
        result.add(Figure(name, "wall time", "s", Stats([float(seconds)])))
    result.add(Figure("whole command", "wall time", "s", Stats([wall]), note="one run (it takes minutes)"))
    return result
