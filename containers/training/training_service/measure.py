"""Measure the training loop: seconds per step and peak memory (RSS) of `train_lora` on CPU or GPU.

    python -m training_service.measure --model tiny                       # the tiny random-weight model
    python -m training_service.measure --model full --resolution 256 --steps 2   # SD 2.1-base architecture

The full-size architecture is built with random weights (`random_sd.build_full_size_pipeline`, fp32,
about 5 GB on disk in a temporary directory); nothing is downloaded. Seconds per step excludes loading and
the first step (warm-up) when more than one step runs. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from skimage import data

from avatar_contract.training import TrainingHyperparameters
from training_service.trainer import train_lora


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _build(model: str, target: Path) -> Path:
    """Build the pipeline in a child process, so its memory is not counted in the training's peak."""
    code = (
        "import sys, torch, random_sd\n"
        "builder = random_sd.ensure_tiny_pipeline if sys.argv[1] == 'tiny' else "
        "(lambda d: random_sd.build_full_size_pipeline(d, dtype=torch.float32))\n"
        "print(builder(sys.argv[2]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, model, str(target)], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def measure(model: str, resolution: int, steps: int, device: str, threads: int | None) -> dict:
    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="measure-") as tmp:
        pipeline_dir = _build(model, Path(tmp) / model)
        face = Image.fromarray(data.astronaut()).resize((resolution, resolution))
        images = [face, face.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
        class_images = [Image.fromarray(data.chelsea()).resize((resolution, resolution))]
        config = TrainingHyperparameters(max_train_steps=steps, resolution=resolution, use_8bit_adam=False)
        marks: list[tuple[int, float, float]] = []  # step, wall clock, process CPU time (all threads)
        started, cpu_started = time.monotonic(), time.process_time()

        def mark(step: int, _loss: float, _elapsed: float) -> None:
            marks.append((step, time.monotonic(), time.process_time()))

        result = train_lora(
            pipeline_dir, images, config, Path(tmp) / "adapter", device, class_images=class_images,
            log_every=1, on_log=mark,
        )  # fmt: skip
        total = time.monotonic() - started
        adapter_mib = result.adapter_file.stat().st_size / 2**20
    if len(marks) > 1:  # from the end of step 1 (warm-up) to the end of the last step
        timed_steps = marks[-1][0] - marks[0][0]
        per_step = (marks[-1][1] - marks[0][1]) / timed_steps
        cpu_per_step = (marks[-1][2] - marks[0][2]) / timed_steps
    else:  # one step: includes loading the models
        per_step, cpu_per_step = marks[0][1] - started, marks[0][2] - cpu_started
    return {
        "model": model,
        "device": device,
        "threads": torch.get_num_threads(),
        "resolution": resolution,
        "steps": steps,
        "precision": result.precision,
        "config": "prior preservation (1+1 images), UNet rank 32, text encoder rank 16, checkpointing",
        "seconds_per_step": round(per_step, 3),
        "cpu_seconds_per_step": round(cpu_per_step, 3),  # all threads; robust to other load
        "seconds_total_incl_loading": round(total, 1),
        "peak_rss_mib": round(_peak_rss_mib()),
        "adapter_mib": round(adapter_mib, 1),
        "final_loss": result.final_loss,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--resolution", type=int, default=None, help="default: 64 (tiny), 256 (full)")
    parser.add_argument("--steps", type=int, default=None, help="default: 20 (tiny), 2 (full)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    resolution = args.resolution or (64 if args.model == "tiny" else 256)
    steps = args.steps or (20 if args.model == "tiny" else 2)
    print(json.dumps(measure(args.model, resolution, steps, args.device, args.threads)))


if __name__ == "__main__":
    main()
