"""Base families side by side (SD 2.1-base and SDXL 1.0), on their full-size architectures with random
weights on CPU: parameters and the default adapter's size (computed on the `meta` device), one training
step of the family's default configuration at a reduced resolution with its peak RSS, and serving —
cold load of the base, cold adapter load, warm switch — with its peak RSS. Each part runs in a fresh
interpreter started by `run_json_subprocess` (benchmarks.family_case), so each peak is its own.
`make bench-gpu` (benchmarks.gpu) measures both families on a GPU.

A full-size part needs a few times the weights in memory (fp32 on CPU); it is skipped, saying so, when
the machine has less memory available than `NEEDS_GIB` says it takes. `--toy` runs the tiny SDXL
pipeline (SD 2.1's tiny path runs in the other benchmarks) and both architectures' computed figures.
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import Figure, Result, Stats, full_size_enabled, run_json_subprocess

NAME = "families"
FAMILIES = ("sd21-base", "sdxl-base-1.0")
RESOLUTION = 256  # the reduced training resolution of the full-size step (both families, same pixels)
ADAPTERS = 3  # resident adapters in the serving part
# Memory a full-size part needs (GiB): training in fp32 (weights, LoRA, Adam, activations at 256 px),
# serving fp16 weights plus the adapters. SD 2.1's are measured (docs/performance.md); SDXL's scale them
# by its 3.5 G parameters against SD 2.1's 1.3 G.
NEEDS_GIB = {
    ("sd21-base", "train"): 8.0,
    ("sd21-base", "serve"): 4.0,
    ("sdxl-base-1.0", "train"): 18.0,
    ("sdxl-base-1.0", "serve"): 9.0,
}
BUILD_GIB = {"sd21-base": 6.0, "sdxl-base-1.0": 15.0}  # building the random pipeline (fp32, then fp16)


def available_gib() -> float:
    import psutil

    return psutil.virtual_memory().available / 2**30


def _architecture(result: Result, family: str) -> None:
    answer = run_json_subprocess("benchmarks.family_case", {"part": "architecture", "family": family}, 600)
    case = f"{family} full-size architecture"
    for component, millions in answer["parameters_m"].items():
        result.add(Figure(case, f"{component} parameters", "M", Stats([millions]), note="meta device"))
    unet_rank, te_rank = answer["ranks"]
    lora = answer["unet_lora_m"] + (answer["text_encoder_lora_m"] if answer["train_text_encoder"] else 0)
    result.add(
        Figure(
            case,
            "default adapter (fp32 as trained)",
            "MiB",
            Stats([lora * 1e6 * 4 / 2**20]),
            note=f"UNet rank {unet_rank}"
            + (f" + every text encoder rank {te_rank}" if answer["train_text_encoder"] else ", UNet only")
            + f": {lora:.1f} M LoRA parameters, computed",
        )
    )


def _measured(result: Result, family: str, toy: bool) -> None:
    from benchmarks.models import family_pipeline

    label = f"{family} {'tiny' if toy else 'full-size'}"
    if not toy:
        need = max(BUILD_GIB[family], *(NEEDS_GIB[(family, p)] for p in ("train", "serve")))
        if (free := available_gib()) < need:
            result.skip(label, f"needs about {need:.0f} GiB free, {free:.1f} GiB available")
            return
    base = str(family_pipeline(family, toy))
    resolution = 64 if toy else RESOLUTION
    job: dict[str, Any] = {"family": family, "pipeline_dir": base, "resolution": resolution}
    train = run_json_subprocess(
        "benchmarks.family_case", {**job, "part": "train", "warmup": 1, "steps": 1 if toy else 2}, 3600
    )
    note = f"defaults {train['config']}, {train['optimizer']}, fp32 on CPU"
    case = f"{label} {resolution}px"
    result.add(Figure(case, "train step", "s/step", Stats(train["step_seconds"]), note=note))
    result.add(
        Figure(case, "training set-up (loads, latents, embeddings)", "s", Stats([train["setup_seconds"]]))
    )
    result.add(Figure(case, "training peak RSS", "MiB", Stats([train["peak_rss_mib"]]), note="VmHWM"))
    result.add(Figure(case, "trained adapter file", "MiB", Stats([train["adapter_mib"]])))
    built = run_json_subprocess("benchmarks.family_case", {**job, "part": "adapter"}, 1800)
    serve = run_json_subprocess(
        "benchmarks.family_case", {**job, **built, "part": "serve", "adapters": ADAPTERS}, 1800
    )
    result.add(Figure(label, "base cold load (fp16)", "s", Stats([serve["base_cold_load_seconds"]]),
                          note="weights in the page cache"))  # fmt: skip
    result.add(Figure(label, "cold adapter load + activate", "s", Stats(serve["adapter_cold_seconds"])))
    result.add(Figure(label, "warm switch", "s", Stats(serve["warm_switch_seconds"])))
    result.add(Figure(label, "serving peak RSS", "MiB", Stats([serve["peak_rss_mib"]]), note="VmHWM"))


def run(toy: bool = False) -> Result:
    result = Result(NAME, "Base families side by side: SD 2.1-base and SDXL 1.0 (CPU)", toy)
    result.settings = {
        "families": list(FAMILIES),
        "training_resolution": 64 if toy else RESOLUTION,
        "device": "cpu",
        "needs_gib": {f"{f}/{p}": g for (f, p), g in NEEDS_GIB.items()},
    }
    for family in FAMILIES:
        _architecture(result, family)
        if not toy and not full_size_enabled():
            result.skip(f"{family} full-size", "--no-full-size")
        elif not toy or family == "sdxl-base-1.0":  # toy: SD 2.1's tiny path runs in the other benchmarks
            _measured(result, family, toy)
    return result
