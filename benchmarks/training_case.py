"""One training case in a fresh interpreter (so each case's memory high-water mark is its own).

Reads a JSON job on stdin: {"impl": "reference"|"service", "pipeline_dir", "settings": {...},
"warmup", "steps", "blocks"}; runs warmup + steps*blocks steps in one loop and prints one JSON line:
per-block median seconds/step (warm-up steps dropped; for the service the first step also carries its
set-up), the process's peak RSS, the wall time and the last loss.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import peak_rss_mib, repeat_timed
from benchmarks.reference_training import LoopSettings, ReferenceDreamBoothLoRA, synthetic_images

IMAGES = 4  # distinct instance (and class) images cycled through


def run(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    settings = LoopSettings(**job["settings"])
    instance = synthetic_images(IMAGES, settings.resolution, seed=1)
    klass = synthetic_images(IMAGES, settings.resolution, seed=2)
    warmup, steps, blocks = job["warmup"], job["steps"], job["blocks"]
    total = warmup + steps * blocks
    started = time.perf_counter()
    if job["impl"] == "reference":
        trainer = ReferenceDreamBoothLoRA(Path(job["pipeline_dir"]), settings, instance, klass)
        durations = repeat_timed(trainer.step, total)
        last_loss = trainer.last_loss
    elif job["impl"] == "service":
        from benchmarks.service_training import service_step_seconds

        durations, last_loss = service_step_seconds(
            Path(job["pipeline_dir"]), settings, instance, klass, total
        )
    else:
        raise ValueError(f"unknown impl {job['impl']!r}")
    wall = time.perf_counter() - started
    timed = durations[warmup:]
    return {
        "impl": job["impl"],
        "block_seconds_per_step": [
            statistics.median(timed[b * steps : (b + 1) * steps]) for b in range(blocks)
        ],
        "warmup_seconds": durations[:warmup],
        "wall_seconds": wall,
        "peak_rss_mib": peak_rss_mib(),
        "last_loss": last_loss,
        "torch_threads": torch.get_num_threads(),
    }


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.stdin.read()))))
