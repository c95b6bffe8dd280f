"""Hosting measurements on this machine: per-user model load/unload through the multi-model API, resident
memory added per loaded user model, warm adapter switch time, first and next request latency.

    python -m hosting_server.bench --model tiny                 # about a minute
    python -m hosting_server.bench --model full --size 64 --steps 2   # SD 2.1-base architecture, ~10 GB peak

Entry points for `make bench`: `measure_engine_switch(...)`, `measure_triton(...)`, `run(...)` (returns a
JSON-ready dict), and the CLI above (`--json PATH` writes it).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from avatar_contract import keys
from avatar_contract.artifact import package_user_model
from avatar_contract.generation import build_inference_request
from hosting_server.adapters import adapter_metadata, make_random_adapter, write_metadata
from hosting_server.mme import MultiModelClient, extract_model_archive, model_name_for
from hosting_server.triton import start_triton


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (tritonserver + Python backend stubs)."""
    import psutil

    root = psutil.Process(pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a process may exit while we count
            total += process.memory_info().rss
    return total


def _timed(fn, *args, **kwargs) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def prepare_base(model: str, work: Path) -> Path:
    """The tiny pipeline, or the full-size SD 2.1-base architecture (fp16 on disk), with random weights."""
    if model == "tiny":
        from random_sd import ensure_tiny_pipeline

        return ensure_tiny_pipeline(work / "tiny")
    import torch

    from random_sd import build_full_size_pipeline

    target = work / "full-sd21"
    if not (target / "model_index.json").is_file():
        build_full_size_pipeline(target, dtype=torch.float16)
    return target


def prepare_users(base: Path, work: Path, count: int, unet_rank: int, te_rank: int) -> list[tuple[str, Path]]:
    """`count` packaged per-user models with random adapters: [(target_model, extracted url)]."""
    import torch
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(base), safety_checker=None)
    users = []
    for seed in range(1, count + 1):
        model_id = keys.new_model_id()
        adapter = make_random_adapter(
            base, work / f"adapter-{seed}", seed, unet_rank, te_rank, 0.05, torch.float16, pipe
        )
        metadata = adapter_metadata(model_id, unet_rank=unet_rank, text_encoder_rank=te_rank)
        write_metadata(adapter, metadata)
        archive = package_user_model(model_id, adapter, metadata, work / f"{model_id}.tar.gz")
        target = keys.target_model(f"{seed:032x}", model_id)
        users.append((target, extract_model_archive(archive, work / "opt-ml-models", target)))
    del pipe
    gc.collect()
    return users


def measure_engine_switch(base: Path, adapter_files: list[Path], repeats: int = 20) -> dict[str, float]:
    """Warm adapter switch time in-process: both adapters resident, time `activate` alternations."""
    from hosting_server.engine import BaseModelEngine, CacheBound

    engine = BaseModelEngine(base, bound=CacheBound(max_adapters=len(adapter_files) + 1, max_bytes=0))
    loads = [_timed(engine.ensure_adapter, f"u{i}", f)[0] for i, f in enumerate(adapter_files)]
    switches = []
    for i in range(repeats):
        seconds, _ = _timed(engine.activate, f"u{i % len(adapter_files)}")
        switches.append(seconds)
    result = {
        "base_load_s": engine.base_load_seconds,
        "adapter_load_into_base_s": statistics.median(loads),
        "adapter_resident_mb": engine.resident_bytes / len(adapter_files) / 2**20,
        "warm_switch_ms": statistics.median(switches) * 1000,
    }
    del engine
    gc.collect()
    return result


def measure_triton(base: Path, users: list[tuple[str, Path]], gen_args: dict[str, Any]) -> dict[str, Any]:
    """Start Triton as the container does and drive it through the multi-model API."""
    body = build_inference_request("a photo of <<TOK>>", "blurry", gen_args)
    started = time.perf_counter()
    with start_triton(base_model=base, http_port=None, startup_timeout_s=1800) as triton:
        start_s = time.perf_counter() - started
        mme = MultiModelClient(triton.url)
        time.sleep(1)
        rss_base = tree_rss_bytes(triton.process.pid)
        loads, names = [], []
        for target, url in users:
            name = model_name_for(target)
            seconds, response = _timed(mme.load, name, url, target)
            response.raise_for_status()
            loads.append(seconds)
            names.append(name)
        time.sleep(1)
        rss_loaded = tree_rss_bytes(triton.process.pid)
        first, nxt, switched = [], [], []
        for name in names:
            seconds, response = _timed(mme.invoke, name, body)
            response.raise_for_status()
            first.append(seconds)
            seconds, response = _timed(mme.invoke, name, body)
            response.raise_for_status()
            nxt.append(seconds)
        for name in names:  # every adapter resident now: each call switches to another user
            seconds, response = _timed(mme.invoke, name, body)
            response.raise_for_status()
            switched.append(seconds)
        rss_served = tree_rss_bytes(triton.process.pid)
        unloads = []
        for name in names:
            seconds, response = _timed(mme.unload, name)
            response.raise_for_status()
            unloads.append(seconds)
    count = len(users)
    return {
        "server_start_with_base_s": start_s,
        "user_models": count,
        "load_s_median": statistics.median(loads),
        "unload_s_median": statistics.median(unloads),
        "rss_base_mb": rss_base / 2**20,
        "rss_added_per_loaded_model_mb": (rss_loaded - rss_base) / count / 2**20,
        "rss_added_per_served_model_mb": (rss_served - rss_base) / count / 2**20,
        "first_request_s_median": statistics.median(first),
        "next_request_s_median": statistics.median(nxt),
        "switching_request_s_median": statistics.median(switched),
    }


def run(
    model: str = "tiny",
    users: int = 4,
    size: int = 64,
    steps: int = 2,
    work: Path | None = None,
    unet_rank: int | None = None,
    te_rank: int | None = None,
) -> dict[str, Any]:
    work = Path(work or tempfile.mkdtemp(prefix="hosting-bench-"))
    # Tiny: rank 4; full size: the training defaults (UNet 32, text encoder 16).
    unet_rank = unet_rank or (4 if model == "tiny" else 32)
    te_rank = te_rank or (4 if model == "tiny" else 16)
    build_s, base = _timed(prepare_base, model, work)
    user_models = prepare_users(base, work, users, unet_rank, te_rank)
    adapter_files = [work / f"adapter-{i}" / "pytorch_lora_weights.safetensors" for i in (1, 2)]
    engine = measure_engine_switch(base, adapter_files)
    gen_args = {"num_inference_steps": steps, "seed": 1, "width": size, "height": size}
    served = measure_triton(base, user_models, gen_args)
    return {
        "model": model,
        "lora_ranks": {"unet": unet_rank, "text_encoder": te_rank},
        "gen_args": gen_args,
        "base_prepare_s": build_s,
        "engine": engine,
        "triton": served,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--work", type=Path, help="folder for the base model and packaged users (reused)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    results = run(args.model, args.users, args.size, args.steps, args.work)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
