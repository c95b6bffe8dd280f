"""One base-family case in a fresh interpreter, so its peak RSS (VmHWM) is its own: `bench_families`
starts it with `run_json_subprocess` (a JSON job on stdin, one JSON line out).

Parts: `architecture` (parameter counts and the default adapter's size, computed on torch's `meta`
device: no weights exist, nothing is allocated), `train` (the training service's loop with the family's
default hyper-parameters at a reduced resolution), `adapter` (a random adapter of the default ranks, cached)
and `serve` (the hosting engine: base cold load, cold
adapter load, warm switch).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import peak_rss_mib


def _family_defaults(family: str, **overrides: Any) -> Any:
    """The family's default hyper-parameters with `overrides`, in the family-free schema (the reduced
    resolutions are below SDXL's training minimum)."""
    from avatar_contract.training import TrainingHyperparameters, hyperparameters_model

    defaults = hyperparameters_model(family)().model_dump()
    return TrainingHyperparameters(**{**defaults, **overrides})


def architecture(job: dict[str, Any]) -> dict[str, Any]:
    import torch
    from peft import LoraConfig

    from avatar_contract.families import family
    from random_sd.builders import full_size_components
    from random_sd.sdxl import full_size_sdxl_components

    chosen = family(job["family"])
    config = _family_defaults(job["family"])
    build = full_size_sdxl_components if job["family"] == "sdxl-base-1.0" else full_size_components
    with torch.device("meta"):
        parts: dict[str, Any] = {k: v for k, v in build().items() if isinstance(v, torch.nn.Module)}
        counts = {k: sum(p.numel() for p in v.parameters()) for k, v in parts.items()}
        unet_lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_rank,
                               target_modules=list(chosen.unet_lora_targets))  # fmt: skip
        parts["unet"].add_adapter(unet_lora)
        lora = sum(p.numel() for n, p in parts["unet"].named_parameters() if "lora_" in n)
        text_lora = 0
        for name in chosen.text_encoders:
            te = LoraConfig(r=config.text_encoder_lora_rank, lora_alpha=config.text_encoder_lora_rank,
                            target_modules=list(chosen.text_encoder_lora_targets[name]))  # fmt: skip
            parts[name].add_adapter(te)
            text_lora += sum(p.numel() for n, p in parts[name].named_parameters() if "lora_" in n)
    return {
        "parameters_m": {k: v / 1e6 for k, v in counts.items()},
        "unet_lora_m": lora / 1e6,
        "text_encoder_lora_m": text_lora / 1e6,
        "ranks": [config.lora_rank, config.text_encoder_lora_rank],
        "train_text_encoder": config.train_text_encoder,
        "peak_rss_mib": peak_rss_mib(),
    }


def train(job: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.gpu import _synthetic_pil
    from training_service.trainer import train_lora

    warmup, steps, resolution = job["warmup"], job["steps"], job["resolution"]
    config = _family_defaults(
        job["family"], resolution=resolution, max_train_steps=warmup + steps, mixed_precision="no",
        use_8bit_adam=False, num_class_images=4,
    )  # fmt: skip
    marks: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-family-train-") as out:
        result = train_lora(
            job["pipeline_dir"], _synthetic_pil(4, resolution, 1), config, Path(out), device="cpu",
            class_images=_synthetic_pil(4, resolution, 2) if config.with_prior_preservation else None,
            log_every=1, on_log=lambda step, loss, elapsed: marks.append(elapsed),
        )  # fmt: skip
        adapter_bytes = result.adapter_file.stat().st_size
    durations = [b - a for a, b in zip([0.0, *marks[:-1]], marks, strict=True)]
    return {
        "step_seconds": durations[warmup:],
        "setup_seconds": marks[0] - statistics.median(durations[warmup:]),
        "adapter_mib": adapter_bytes / 2**20,
        "optimizer": result.optimizer,
        "config": config.model_dump(
            include={
                "lora_rank",
                "train_text_encoder",
                "with_prior_preservation",
                "gradient_checkpointing",
                "resolution",
            }
        ),
        "peak_rss_mib": peak_rss_mib(),
    }


def _ranks(family: str) -> tuple[int, int]:
    config = _family_defaults(family)
    return config.lora_rank, config.text_encoder_lora_rank


def adapter(job: dict[str, Any]) -> dict[str, Any]:
    """The family's default-rank random adapter, built (fp32 pipeline in memory) and cached on disk in its own
    process, so that `serve`'s peak is the serving one."""
    from benchmarks.artifacts import random_adapter

    return {"adapter": str(random_adapter(Path(job["pipeline_dir"]), *_ranks(job["family"])))}


def serve(job: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.artifacts import adapter_copies
    from benchmarks.gpu import _switch
    from hosting_server.engine import BaseModelEngine, CacheBound

    ranks = _ranks(job["family"])
    adapter = Path(job["adapter"])
    count = job["adapters"]
    with tempfile.TemporaryDirectory(prefix="bench-family-serve-") as work:
        ids = adapter_copies(adapter, ranks, count, Path(work))
        started = time.perf_counter()
        engine = BaseModelEngine(job["pipeline_dir"], bound=CacheBound(max_adapters=count, max_bytes=0),
                                 device="cpu", dtype="float16")  # fmt: skip
        cold_base = time.perf_counter() - started
        cold, warm = [], []
        for model_id, path in ids:
            t0 = time.perf_counter()
            _switch(engine, model_id, path)
            cold.append(time.perf_counter() - t0)
        for index in range(count * 3):
            model_id, path = ids[index % count]
            t0 = time.perf_counter()
            _switch(engine, model_id, path)
            warm.append(time.perf_counter() - t0)
    return {
        "base_cold_load_seconds": cold_base,
        "adapter_cold_seconds": cold,
        "warm_switch_seconds": warm,
        "adapter_file_mib": adapter.stat().st_size / 2**20,
        "peak_rss_mib": peak_rss_mib(),
    }


PARTS = {"architecture": architecture, "train": train, "adapter": adapter, "serve": serve}

if __name__ == "__main__":
    job = json.loads(sys.stdin.read())
    print(json.dumps(PARTS[job["part"]](job)))
