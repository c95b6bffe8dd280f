"""Training: seconds per step and peak memory of the training service's loop against the plain
diffusers + peft reference loop (`reference_training.py`) with the same settings.

Each (case, implementation) runs in its own fresh interpreter, so its RSS high-water mark is its own.
Inside it, one or more untimed warm-up steps, then `blocks` blocks of `steps` timed steps; a block's
figure is its median step and the blocks are the repeats (median and min–max in the table). The
settings are the contract's defaults (`TrainingHyperparameters`) with only the listed overrides.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from avatar_contract.training import TrainingHyperparameters
from benchmarks.common import Figure, Result, Stats, run_json_subprocess
from benchmarks.reference_training import LoopSettings

NAME = "training"


def default_settings(**overrides: Any) -> LoopSettings:
    """The contract's defaults for every knob the loops share, then `overrides`."""
    defaults = TrainingHyperparameters()
    shared = {f.name: getattr(defaults, f.name) for f in fields(LoopSettings) if hasattr(defaults, f.name)}
    return LoopSettings(**{**shared, **overrides})


def cases(toy: bool) -> list[dict[str, Any]]:
    rank = TrainingHyperparameters().lora_rank
    tiny = [
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
    runs += [{"case": c, "model": "full", "overrides": o, **_full_run()} for c, o in full]
    return runs


def _toy_run() -> dict[str, int]:
    return {"warmup": 1, "steps": 1, "blocks": 1, "timeout": 300}


def _tiny_run() -> dict[str, int]:
    return {"warmup": 2, "steps": 8, "blocks": 3, "timeout": 600}


def _full_run() -> dict[str, int]:
    # One warm-up step (allocations, first-call overheads), then 3 single-step repeats.
    return {"warmup": 1, "steps": 1, "blocks": 3, "timeout": 1800}


def run(toy: bool = False, only_cases: list[str] | None = None) -> Result:
    from benchmarks.models import full_size_pipeline, tiny_pipeline
    from benchmarks.service_training import service_unavailable_reason

    result = Result(NAME, "DreamBooth-LoRA training loop: service vs plain diffusers+peft loop", toy)
    missing = service_unavailable_reason()
    result.settings = {
        "defaults": asdict(default_settings()),
        "device": "cpu",
        "precision": "fp32 (no mixed precision on CPU; weights fp16 on disk for full-size)",
        "optimizer": "AdamW (8-bit Adam needs bitsandbytes + CUDA)",
        "batch": "1 instance image (+1 class image with prior preservation) per step",
        "timing": "median seconds/step of each block after warm-up; blocks are the repeats",
        "memory": "peak RSS (ru_maxrss) of a fresh interpreter per case and implementation",
    }
    for spec in cases(toy):
        if only_cases and not any(key in spec["case"] for key in only_cases):
            continue
        pipeline_dir = tiny_pipeline() if spec["model"] == "tiny" else full_size_pipeline()
        settings = asdict(default_settings(**spec["overrides"]))
        answers: dict[str, dict[str, Any]] = {}
        for impl in ("service", "reference"):
            if impl == "service" and missing:
                continue
            job = {
                "impl": impl,
                "pipeline_dir": str(pipeline_dir),
                "settings": settings,
                "warmup": spec["warmup"],
                "steps": spec["steps"],
                "blocks": spec["blocks"],
            }
            answers[impl] = run_json_subprocess("benchmarks.training_case", job, timeout=spec["timeout"])
        ours, ref = answers.get("service"), answers.get("reference")
        result.add(
            Figure(
                spec["case"],
                "train step",
                "s/step",
                ours=Stats(ours["block_seconds_per_step"]) if ours else None,
                reference=Stats(ref["block_seconds_per_step"]) if ref else None,
            )
        )
        result.add(
            Figure(
                spec["case"],
                "peak RSS",
                "MiB",
                ours=Stats([ours["peak_rss_mib"]]) if ours else None,
                reference=Stats([ref["peak_rss_mib"]]) if ref else None,
                note="one fresh process per implementation",
            )
        )
    if missing:
        result.skip("training service loop", missing)
    return result
