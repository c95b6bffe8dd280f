"""Per-user model cold load through SageMaker's multi-model API, ours vs the reference design, on the
same real Triton server (the hosting launcher: SageMaker mode, `sd_base` loaded at start).

N of our thin per-user models and N of the reference design's (each loads the whole pipeline itself)
are loaded alternately, ours then reference, so each pair sees the same machine load. For each load:
the wall time of `POST /models` (Triton answers when the model is ready) and the resident memory it
added (RSS of tritonserver plus every Python-backend stub process, before vs after). Then both kinds
are invoked once (to show they really serve) and unloaded, timed. The full-size case holds fp16
weights in memory (`AVATAR_TORCH_DTYPE=float16` for both designs), which is what a GPU would hold.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from avatar_contract.generation import build_inference_request, images_from_response
from avatar_contract.keys import new_model_id
from benchmarks.common import Figure, Result, Stats, full_size_enabled, tree_rss_mib

NAME = "triton_load"
RANKS = (32, 16)  # the default training config's UNet / text-encoder LoRA ranks
FULL_PIPELINE_GIB = 2.6  # fp16 SD 2.1-base in memory, per reference model (and our one base)


def _full_size_count(wanted: int) -> tuple[int, str]:
    """How many full-size reference models fit in the memory free now (each holds a whole pipeline)."""
    import psutil

    free_gib = psutil.virtual_memory().available / 2**30
    # 2.6 GB of weights + ~0.35 GB of torch/diffusers per reference model (measured 2.9 GiB); one more
    # pipeline is our base once it renders; 3 GiB head-room for everything else.
    fits = int((free_gib - 3.0) / (FULL_PIPELINE_GIB * 1.15)) - 1
    count = max(0, min(wanted, fits))
    note = f"{free_gib:.1f} GiB available at start: {count} of {wanted} requested full-size pairs fit"
    return count, note


def _measure(
    result: Result,
    label: str,
    base: Path,
    count: int,
    env: dict[str, str],
    invoke_args: dict[str, Any] | None,
) -> None:
    from benchmarks.artifacts import our_model, random_adapter, reference_model
    from benchmarks.triton_server import sagemaker_triton

    adapter = random_adapter(base, *RANKS)
    work = Path(tempfile.mkdtemp(prefix="bench-mme-"))
    try:
        pairs = []
        for _ in range(count):
            ours_id, ref_id = new_model_id(), new_model_id()
            pairs.append(
                (
                    (ours_id, our_model(adapter, ours_id, RANKS, work)),
                    (ref_id, reference_model(adapter, ref_id, RANKS, base, work)),
                )
            )
        started = time.perf_counter()
        with sagemaker_triton(base, env=env) as triton:
            start_seconds = time.perf_counter() - started
            base_rss = tree_rss_mib(triton.pid)
            load: dict[str, list[float]] = {"ours": [], "ref": []}
            added: dict[str, list[float]] = {"ours": [], "ref": []}
            for pair in pairs:
                for kind, (model_id, url) in zip(("ours", "ref"), pair, strict=True):
                    before = tree_rss_mib(triton.pid)
                    t0 = time.perf_counter()
                    triton.load(model_id, url)
                    load[kind].append(time.perf_counter() - t0)
                    added[kind].append(tree_rss_mib(triton.pid) - before)
            loaded_rss = tree_rss_mib(triton.pid)
            latency: dict[str, list[float]] = {"ours": [], "ref": []}
            if invoke_args is not None:
                body = build_inference_request("a photo of <<TOK>>", "", invoke_args)
                for kind, (model_id, _) in zip(("ours", "ref"), pairs[0], strict=True):
                    t0 = time.perf_counter()
                    images = images_from_response(triton.invoke(model_id, body))
                    latency[kind].append(time.perf_counter() - t0)
                    if not images:
                        raise RuntimeError(f"{kind} model {model_id} returned no image")
            unload: dict[str, list[float]] = {"ours": [], "ref": []}
            for pair in pairs:
                for kind, (model_id, _) in zip(("ours", "ref"), pair, strict=True):
                    t0 = time.perf_counter()
                    triton.unload(model_id)
                    unload[kind].append(time.perf_counter() - t0)
        note = f"N={count} of each, loaded alternately on one server"
        result.add(
            Figure(label, "cold load (POST /models)", "s", Stats(load["ours"]), Stats(load["ref"]), note)
        )
        result.add(
            Figure(label, "RSS added per model", "MiB", Stats(added["ours"]), Stats(added["ref"]), note)
        )
        result.add(
            Figure(label, "unload (DELETE /models)", "s", Stats(unload["ours"]), Stats(unload["ref"]), note)
        )
        if invoke_args is not None and latency["ours"]:
            result.add(
                Figure(
                    label,
                    f"first request ({invoke_args['num_inference_steps']} steps, {invoke_args['width']} px)",
                    "s",
                    Stats(latency["ours"]),
                    Stats(latency["ref"]),
                    "ours includes the adapter's cold load into the base model",
                )
            )
        result.notes.append(
            f"{label}: server start with sd_base {start_seconds:.1f} s; RSS base-only {base_rss:.0f} MiB, "
            f"with {count}+{count} models {loaded_rss:.0f} MiB"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(toy: bool = False) -> Result:
    from benchmarks.models import full_size_pipeline, tiny_pipeline
    from benchmarks.triton_server import triton_unavailable_reason

    result = Result(NAME, "Per-user model cold load through the multi-model API: ours vs reference", toy)
    result.settings = {
        "server": "tritonserver (nvidia-pytriton wheel), hosting_server.triton.start_triton, SageMaker MME",
        "adapter_ranks": {"unet": RANKS[0], "text_encoder": RANKS[1]},
        "memory": "RSS of tritonserver + all stub processes (psutil), after minus before each load",
        "reference_model": "benchmarks/reference_model (whole StableDiffusionPipeline + its LoRA per user)",
    }
    missing = triton_unavailable_reason()
    if missing:
        result.skip("multi-model load, ours vs reference", missing)
        return result
    threads = {"OMP_NUM_THREADS": str(os.cpu_count() or 1)}
    tiny_n = 1 if toy else 3
    _measure(
        result,
        "tiny",
        tiny_pipeline(),
        tiny_n,
        {**threads, "AVATAR_TORCH_DTYPE": "float32"},
        {"num_inference_steps": 2, "width": 64, "height": 64, "seed": 1},
    )
    if toy or not full_size_enabled():
        result.skip("full-size architecture", "not run with --toy" if toy else "--no-full-size")
        return result
    count, note = _full_size_count(wanted=3)  # 3 keeps `make bench` under 15 minutes
    result.notes.append(note)
    if count < 2:
        result.skip("full-size architecture", note)
        return result
    _measure(
        result,
        "full-size SD 2.1 fp16",
        full_size_pipeline(),
        count,
        {**threads, "AVATAR_TORCH_DTYPE": "float16"},
        None,
    )
    return result
