"""`python -m benchmarks.gpu` (`make bench-gpu`): the GPU figures, on the full-size architecture of each
base family (SD 2.1-base, SDXL 1.0) with random weights (same compute and memory as the real models;
nothing is downloaded). `--family` picks one; each family's figures run at its native resolution with its
default training configuration (`avatar_contract.families`).

Run it on a machine with one NVIDIA GPU and this repository's pinned Python dependencies. It measures:
- training: seconds/step at 512 px with the default training config (`TrainingHyperparameters()`:
  rank 32 UNet + rank 16 text-encoder LoRA, prior preservation, Min-SNR, bf16/fp16, gradient
  checkpointing only below 20 GiB) through the training service's own loop, the projected time
  for the default step count, and peak GPU memory;
- generation: 30 steps at 512 px through the hosting engine (`BaseModelEngine`, the code of `sd_base`),
  without and with an active LoRA;
- likeness per checkpoint (`--base-model DIR --selfies DIR`, benchmarks/gpu_likeness.py): the default
  training on real selfies with the real base model, each checkpoint's mean likeness ± its standard
  error and failures, the step kept, and each phase's seconds (random weights render no faces);
- adapters: cold load from disk, warm switch, GPU memory of the base and per resident adapter, and how
  many adapters fit beside the base (and one generation's working memory) in 24 GB.

`--toy` runs the same code on CPU with the tiny model in seconds (the tests do that); it proves the
script works, not the numbers. Results: `benchmarks/results/gpu.json` (or `--results-dir`).
"""

from __future__ import annotations

import argparse
import gc
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import (
    RESULTS_DIR,
    Figure,
    Result,
    Stats,
    environment,
    render_table,
    table_rows,
    tree_rss_mib,
)

GPU_BUDGET_GIB = 24.0  # an ml.g5 instance's A10G
RANKS = (32, 16)


def _device_record(torch: Any, device: str) -> dict[str, Any]:
    if device != "cuda":
        return {"device": "cpu", "name": platform.processor() or "cpu"}
    props = torch.cuda.get_device_properties(0)
    return {
        "device": "cuda",
        "name": props.name,
        "total_memory_gib": round(props.total_memory / 2**30, 1),
        "capability": f"{props.major}.{props.minor}",
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "bf16": torch.cuda.is_bf16_supported(),
    }


def _sync(torch: Any, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _seconds(torch: Any, device: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    """Wall seconds of `call(*args, **kwargs)`, the device's queued work finished before and after."""
    _sync(torch, device)
    started = time.perf_counter()
    call(*args, **kwargs)
    _sync(torch, device)
    return time.perf_counter() - started


def _switch(engine: Any, model_id: str, path: Path) -> None:
    """What a request for an adapter costs before rendering: make it resident (a hit if it is), activate."""
    engine.ensure_adapter(model_id, path)
    engine.activate(model_id)


def _allocated_mib(torch: Any, device: str) -> float:
    """GPU memory allocated by torch; on CPU (toy runs) the process's current RSS."""
    if device == "cuda":
        return torch.cuda.memory_allocated() / 2**20
    import os

    return tree_rss_mib(os.getpid())


def _synthetic_pil(count: int, resolution: int, seed: int) -> list:
    from PIL import Image

    from benchmarks.reference_training import synthetic_images

    pixels = synthetic_images(count, resolution, seed)
    array = ((pixels.permute(0, 2, 3, 1) + 1) * 127.5).clamp(0, 255).byte().numpy()
    return [Image.fromarray(a) for a in array]


def bench_training(result: Result, torch: Any, base: Path, device: str, toy: bool, family: str) -> None:
    from avatar_contract.families import family as family_definition
    from avatar_contract.training import TrainingHyperparameters, hyperparameters_model
    from training_service.trainer import train_lora

    defaults = hyperparameters_model(family)()
    resolution = 64 if toy else family_definition(family).native_resolution
    warmup, timed = (1, 1) if toy else (3, 10)
    update = {"resolution": resolution, "max_train_steps": warmup + timed}
    config = TrainingHyperparameters(**defaults.model_dump() | update)  # the family-free schema: 64 px toys
    marks: list[float] = []
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory(prefix="bench-gpu-train-") as out:
        run = train_lora(
            base,
            _synthetic_pil(4 if toy else 10, resolution, 1),
            config,
            Path(out),
            device=device,
            class_images=_synthetic_pil(defaults.num_class_images if not toy else 4, resolution, 2)
            if config.with_prior_preservation
            else None,
            log_every=1,
            on_log=lambda step, loss, elapsed: marks.append(elapsed),
        )
    steps = [b - a for a, b in zip([0.0, *marks[:-1]], marks, strict=True)][warmup:]
    setup = marks[0] - statistics.median(steps)  # the first step also carries loading and latent encoding
    per_step = Stats(steps)
    label = f"{family} {resolution}px default config ({run.precision}, {run.optimizer})"
    result.add(
        Figure(label, "training step", "s/step", per_step, note=f"{run.device}, after {warmup} warm-up steps")
    )
    projected = setup + per_step.median * defaults.max_train_steps
    result.add(
        Figure(
            label,
            f"projected training time for {defaults.max_train_steps} steps",
            "s",
            Stats([projected]),
            note=f"set-up {setup:.1f} s + median step x steps; excludes image prep, class images, previews",
        )
    )
    if device == "cuda":
        result.add(
            Figure(
                label, "training peak GPU memory", "GiB", Stats([torch.cuda.max_memory_allocated() / 2**30])
            )
        )
    result.settings[f"training {family}"] = config.model_dump(exclude={"validation_prompts"})


def bench_hosting(result: Result, torch: Any, base: Path, device: str, toy: bool, family: str) -> None:
    from avatar_contract.families import family as family_definition
    from avatar_contract.generation import GenArgs
    from benchmarks.artifacts import adapter_copies, random_adapter
    from hosting_server.engine import BaseModelEngine, CacheBound

    native = family_definition(family).native_resolution
    size, steps, repeats, count = (64, 2, 1, 2) if toy else (native, 30, 3, 8)
    adapter = random_adapter(base, *RANKS)
    work = Path(tempfile.mkdtemp(prefix="bench-gpu-adapters-"))
    try:
        before = _allocated_mib(torch, device)
        engine = BaseModelEngine(base, bound=CacheBound(max_adapters=count + 1, max_bytes=0), device=device)
        _sync(torch, device)
        base_mib = _allocated_mib(torch, device) - before
        label = f"{family} {size}px {steps} steps ({str(engine.dtype).removeprefix('torch.')})"
        args = GenArgs(num_inference_steps=steps, width=size, height=size, seed=1)
        ids = adapter_copies(adapter, RANKS, count, work)
        engine.generate("a photo of a person", gen_args=args)  # warm-up (kernels, allocator)
        plain, with_lora = [], []
        for _ in range(repeats):
            plain.append(_seconds(torch, device, engine.generate, "a photo of a person", gen_args=args))
            model_id, path = ids[0]
            engine.ensure_adapter(model_id, path)
            with_lora.append(
                _seconds(
                    torch,
                    device,
                    engine.generate,
                    "a photo of <<TOK>>",
                    gen_args=args,
                    adapter_id=model_id,
                    adapter_file=path,
                )
            )
        result.add(Figure(label, "generation, base only", "s", Stats(plain)))
        result.add(Figure(label, "generation, active LoRA (resident)", "s", Stats(with_lora)))
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            engine.generate("a photo of a person", gen_args=args)
            working = torch.cuda.max_memory_allocated() / 2**20 - torch.cuda.memory_allocated() / 2**20
        else:
            working = 0.0
        cold, per_adapter = [], []
        for model_id, path in ids[1:]:
            mem0 = _allocated_mib(torch, device)
            cold.append(_seconds(torch, device, _switch, engine, model_id, path))
            per_adapter.append(_allocated_mib(torch, device) - mem0)
        warm = []
        for index in range(count * 3):
            model_id, path = ids[index % count]
            warm.append(_seconds(torch, device, _switch, engine, model_id, path))
        memory_unit = "MiB (GPU)" if device == "cuda" else "MiB (RSS, CPU)"
        result.add(Figure(f"{family} " + "adapters", "cold adapter load + activate", "s", Stats(cold)))
        result.add(Figure(f"{family} " + "adapters", "warm switch", "s", Stats(warm)))
        result.add(Figure(f"{family} " + "memory", "base pipeline", memory_unit, Stats([base_mib])))
        result.add(Figure(f"{family} " + "memory", "per resident adapter", memory_unit, Stats(per_adapter)))
        if device == "cuda":
            result.add(
                Figure(
                    f"{family} memory", f"generation working memory ({size}px)", "MiB (GPU)", Stats([working])
                )
            )
            per = max(statistics.median(per_adapter), 1e-3)
            fit = int((GPU_BUDGET_GIB * 1024 - base_mib - working) / per)
            result.add(
                Figure(
                    f"{family} memory",
                    f"adapters that fit beside the base in {GPU_BUDGET_GIB:.0f} GB",
                    "adapters",
                    Stats([float(fit)]),
                    note="(24 GiB - base - one generation's working memory) / per-adapter memory",
                )
            )
        del engine
        gc.collect()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="tiny model on CPU (tests); not a measurement")
    parser.add_argument("--allow-cpu", action="store_true", help="run the full-size figures on CPU (hours)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--base-model", type=Path, help="a real SD 2.x pipeline directory (likeness part)")
    parser.add_argument("--selfies", type=Path, help="selfies of one consenting person (likeness part)")
    parser.add_argument(
        "--family", choices=["sd21-base", "sdxl-base-1.0"], action="append", help="default: both families"
    )
    args = parser.parse_args(argv)
    if (args.base_model is None) != (args.selfies is None):
        parser.error("--base-model and --selfies go together")

    import torch

    from benchmarks.models import family_pipeline

    device = "cuda" if torch.cuda.is_available() and not args.toy else "cpu"
    if device == "cpu" and not (args.toy or args.allow_cpu):
        print("no CUDA GPU here: run on a GPU machine, or use --toy (tiny model on CPU)", file=sys.stderr)
        return 2
    families = args.family or ["sd21-base", "sdxl-base-1.0"]
    result = Result(
        "gpu", "GPU: training, generation, adapters, memory (full-size architectures per family)", args.toy
    )
    result.settings = {
        "device": _device_record(torch, device),
        "adapter_ranks": {"unet": RANKS[0], "te": RANKS[1]},
    }
    started = time.perf_counter()
    for family in families:
        base = family_pipeline(family, args.toy)
        for part in (bench_training, bench_hosting):
            gc.collect()
            if device == "cuda":
                torch.cuda.empty_cache()  # each part's memory figures start from a clean device
            try:
                part(result, torch, base, device, args.toy, family)
            except Exception as exc:
                result.error = (
                    result.error or ""
                ) + f"{family} {part.__name__}: {type(exc).__name__}: {exc}\n"
                import traceback

                traceback.print_exc()
    if args.selfies is not None:
        from benchmarks.gpu_likeness import bench_likeness

        toy = {"max_train_steps": 4, "checkpoint_every_steps": 2, "num_class_images": 2, "resolution": 64}
        overrides = toy if args.toy else {}
        try:
            bench_likeness(result, args.base_model, args.selfies, device, overrides, 2 if args.toy else None)
        except Exception as exc:
            result.error = (result.error or "") + f"bench_likeness: {type(exc).__name__}: {exc}\n"
    result.seconds = time.perf_counter() - started
    path = result.write(args.results_dir, environment() | {"gpu": result.settings["device"]})
    print(render_table(table_rows([result])))
    print(f"\n{result.settings['device']} -> {path}")
    return 1 if result.error else 0


if __name__ == "__main__":
    sys.exit(main())
