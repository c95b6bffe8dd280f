"""Adapter switching in the shared base model (`hosting_server.engine.BaseModelEngine`, the code
`sd_base` runs): cold load of an adapter from disk into the resident base, warm switch between resident
adapters, eviction, and memory per resident adapter. The reference design has no adapter cache: serving
another user means a per-user model that loads the whole pipeline and its LoRA, so our cold load is set
beside that load (`StableDiffusionPipeline.from_pretrained` + `load_lora_weights`), measured in the same
run, in the same process, alternately.
"""

from __future__ import annotations

import gc
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import (
    Figure,
    Result,
    Stats,
    full_size_enabled,
    peak_rss_mib,
    reset_peak_rss,
    tree_rss_mib,
)

NAME = "adapters"
RANKS = (32, 16)


def _reference_load(base: Path, adapter: Path, dtype_name: str) -> float:
    """What the reference design's per-user model does when it loads: a whole pipeline plus its LoRA."""
    import torch
    from diffusers import StableDiffusionPipeline

    t0 = time.perf_counter()
    pipe = StableDiffusionPipeline.from_pretrained(
        base, dtype=getattr(torch, dtype_name), safety_checker=None, requires_safety_checker=False
    )
    pipe.load_lora_weights(str(adapter.parent), weight_name=adapter.name)
    # Read every weight, as `.to("cuda")` would (on CPU diffusers memory-maps the files and reads lazily).
    with torch.no_grad():
        for module in (pipe.unet, pipe.vae, pipe.text_encoder):
            for param in module.parameters():
                param.data = param.data.clone()
    seconds = time.perf_counter() - t0
    del pipe
    gc.collect()
    return seconds


def _measure(result: Result, label: str, base: Path, dtype_name: str, count: int, switches: int) -> None:
    import os

    from benchmarks.artifacts import adapter_copies, random_adapter
    from hosting_server.engine import BaseModelEngine, CacheBound

    adapter = random_adapter(base, *RANKS)
    work = Path(tempfile.mkdtemp(prefix="bench-adapters-"))
    # This runs in the benchmark process, after whatever ran before it: its peak counts from here.
    peak_scope = "during this case" if reset_peak_rss() else "since the benchmark process started"
    try:
        copies = adapter_copies(adapter, RANKS, count, work)
        rss0 = tree_rss_mib(os.getpid())
        engine = BaseModelEngine(
            base, bound=CacheBound(max_adapters=count + 1, max_bytes=0), dtype=dtype_name
        )
        base_rss = tree_rss_mib(os.getpid()) - rss0
        cold, ref_cold, rss_added, nbytes = [], [], [], []
        for model_id, path in copies:
            before = tree_rss_mib(os.getpid())
            t0 = time.perf_counter()
            entry = engine.ensure_adapter(model_id, path)
            engine.activate(model_id)
            cold.append(time.perf_counter() - t0)
            rss_added.append(tree_rss_mib(os.getpid()) - before)
            nbytes.append(entry.nbytes / 2**20)
            ref_cold.append(_reference_load(base, path, dtype_name))
        # Warm switch: what a request for a resident adapter costs before rendering (cache hit + activate).
        warm = []
        for index in range(switches):
            model_id, path = copies[index % count]
            t0 = time.perf_counter()
            engine.ensure_adapter(model_id, path)
            engine.activate(model_id)
            warm.append(time.perf_counter() - t0)
        evict = []
        for model_id, _ in copies:
            t0 = time.perf_counter()
            engine.evict(model_id)
            evict.append(time.perf_counter() - t0)
        result.add(
            Figure(
                label,
                "cold adapter load (disk -> resident, activate)",
                "s",
                Stats(cold),
                Stats(ref_cold),
                "reference: whole pipeline read into memory + LoRA, same process, alternately",
            )
        )
        result.add(Figure(label, "warm switch between resident adapters", "s", Stats(warm)))
        result.add(Figure(label, "eviction of a resident adapter", "s", Stats(evict)))
        result.add(Figure(label, "adapter weights per resident adapter", "MiB", Stats(nbytes)))
        result.add(Figure(label, "RSS added per resident adapter", "MiB", Stats(rss_added)))
        result.notes.append(
            f"{label}: base pipeline load {engine.base_load_seconds:.2f} s, RSS added by the base "
            f"{base_rss:.0f} MiB ({dtype_name}; memory-mapped weights count once touched); "
            f"process peak {peak_rss_mib():.0f} MiB {peak_scope} (the reference's whole-pipeline loads too)"
        )
        del engine
        gc.collect()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(toy: bool = False) -> Result:
    from benchmarks.models import full_size_pipeline, tiny_pipeline

    result = Result(
        NAME, "Adapter cache: cold load, warm switch, eviction (ours) vs whole-pipeline load", toy
    )
    result.settings = {
        "engine": "hosting_server.engine.BaseModelEngine (the code behind sd_base), in process, CPU",
        "adapter_ranks": {"unet": RANKS[0], "text_encoder": RANKS[1]},
        "warm_switch": "ensure_adapter (cache hit) + activate (diffusers set_adapters), round robin",
    }
    _measure(result, "tiny", tiny_pipeline(), "float32", count=2 if toy else 4, switches=6 if toy else 40)
    if toy or not full_size_enabled():
        result.skip("full-size architecture", "not run with --toy" if toy else "--no-full-size")
        return result
    _measure(result, "full-size SD 2.1 fp16", full_size_pipeline(), "float16", count=3, switches=15)
    return result
