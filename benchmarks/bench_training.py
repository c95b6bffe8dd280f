"""Training: seconds per step and peak memory of the training service's loop against the plain
diffusers + peft reference loop (`reference_training.py`) with the same settings.

Every run is a fresh interpreter, so its RSS high-water mark is its own. Tiny cases: three rounds,
each running the service then the reference (the order flips every round), so the machine's changing
load falls on both sides. Inside a process: untimed warm-up steps, then `blocks` blocks of `steps` timed
steps; a block's figure is its median step and the blocks are the repeats (median and min–max in the
table; the ratio pairs them by round). Full-size cases: one process per side (several GB each). The
settings are the contract's defaults (`TrainingHyperparameters`) with only the listed overrides.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from avatar_contract.training import TrainingHyperparameters
from benchmarks.common import Figure, Result, Stats, full_size_enabled, run_json_subprocess
from benchmarks.reference_training import LoopSettings

NAME = "training"


def default_settings(**overrides: Any) -> LoopSettings:
    """The contract's defaults for every knob the loops share, then `overrides`."""
    defaults = TrainingHyperparameters()
    shared = {f.name: getattr(defaults, f.name) for f in fields(LoopSettings) if hasattr(defaults, f.name)}
    return LoopSettings(**{**shared, **overrides})


def cases(toy: bool) -> list[dict[str, Any]]:
    rank = TrainingHyperparameters().lora_rank
    tiny: list[tuple[str, dict[str, Any]]] = [
        ("tiny 64px rank 4", {"lora_rank": 4, "with_prior_preservation": False, "train_text_encoder": False}),
        ("tiny 64px rank 4 +prior +TE-LoRA", {"lora_rank": 4}),
        (
            f"tiny 64px rank {rank} (default)",
            {"with_prior_preservation": False, "train_text_encoder": False},
        ),
        (f"tiny 64px rank {rank} +prior +TE-LoRA (default config)", {}),
    ]
    full = [
        ("full-size 256px default config", {"resolution": 256}),
        ("full-size 512px default config", {"resolution": 512}),
    ]
    if toy:
        # Same code path at toy size: the default config on the tiny model, a few steps.
        return [{"case": tiny[3][0], "model": "tiny", "overrides": {"resolution": 64}, **_toy_run()}]
    runs = [
        {"case": c, "model": "tiny", "overrides": {**o, "resolution": 64}, **_tiny_run()} for c, o in tiny
    ]
    runs += [{"case": c, "model": "full", "overrides": o, **_full_run(o["resolution"])} for c, o in full]
    return runs


def _toy_run() -> dict[str, int]:
    return {"rounds": 1, "warmup": 1, "steps": 1, "blocks": 1, "timeout": 300}


def _tiny_run() -> dict[str, int]:
    # Three alternating processes per side, each 2 warm-up steps then 2 blocks of 3 timed steps (n=6).
    return {"rounds": 3, "warmup": 2, "steps": 3, "blocks": 2, "timeout": 600}


def _full_run(resolution: int) -> dict[str, int]:
    # One process per side (7-9 GB each); one warm-up step (allocations, first-call overheads; the
    # service's first step also carries its set-up), then single timed steps: 2 at 256 px, 1 at 512 px
    # (about 30 s each on 2 cores), so that `make bench` stays under 15 minutes.
    return {"rounds": 1, "warmup": 1, "steps": 1, "blocks": 2 if resolution <= 256 else 1, "timeout": 1800}


def run(toy: bool = False, only_cases: list[str] | None = None) -> Result:
    from benchmarks.models import full_size_pipeline, tiny_pipeline

    result = Result(NAME, "DreamBooth-LoRA training loop: service vs plain diffusers+peft loop", toy)
    result.settings = {
        "defaults": asdict(default_settings()),
        "device": "cpu",
        "precision": "fp32 (no mixed precision on CPU; weights fp16 on disk for full-size)",
        "optimizer": "AdamW (8-bit Adam needs bitsandbytes + CUDA)",
        "batch": "1 instance image (+1 class image with prior preservation) per step",
        "timing": "median seconds/step of each block after warm-up; blocks (over alternating processes) "
        "are the repeats",
        "memory": "peak RSS (VmHWM) of each fresh interpreter (one per case, side and round)",
    }
    for spec in cases(toy):
        if only_cases and not any(key in spec["case"] for key in only_cases):
            continue
        if spec["model"] == "full" and not full_size_enabled():
            result.skip(spec["case"], "--no-full-size")
            continue
        pipeline_dir = tiny_pipeline() if spec["model"] == "tiny" else full_size_pipeline()
        settings = asdict(default_settings(**spec["overrides"]))
        impls = ["service", "reference"]
        blocks: dict[str, list[float]] = {impl: [] for impl in impls}
        peaks: dict[str, list[float]] = {impl: [] for impl in impls}
        for round_ in range(spec["rounds"]):
            # Alternate the implementations round by round (and which goes first), so that changes
            # in the machine's load fall on both sides alike.
            for impl in impls if round_ % 2 == 0 else impls[::-1]:
                job = {
                    "impl": impl,
                    "pipeline_dir": str(pipeline_dir),
                    "settings": settings,
                    "warmup": spec["warmup"],
                    "steps": spec["steps"],
                    "blocks": spec["blocks"],
                }
                answer = run_json_subprocess("benchmarks.training_case", job, timeout=spec["timeout"])
                blocks[impl] += answer["block_seconds_per_step"]
                peaks[impl].append(answer["peak_rss_mib"])
        ours, ref = blocks["service"], blocks["reference"]
        result.add(
            Figure(
                spec["case"],
                "train step",
                "s/step",
                ours=Stats(ours),
                reference=Stats(ref),
                note=f"{spec['rounds']} process(es) per side, {spec['blocks']} block(s) of {spec['steps']} "
                f"step(s) each after {spec['warmup']} warm-up step(s)",
            )
        )
        result.add(
            Figure(
                spec["case"],
                "peak RSS",
                "MiB",
                ours=Stats(peaks["service"]),
                reference=Stats(peaks["reference"]),
                note="VmHWM of each fresh process",
            )
        )
    return result
