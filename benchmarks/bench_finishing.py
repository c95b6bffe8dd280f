"""The finishing passes on CPU (docs/hosting.md "Finishing passes", issue 25): `hires` and `face_detail`
as the hosting engine runs them (`avatar_runtime.rendering.finish` over the engine's img2img pipeline,
built from the resident base's components, with a user's LoRA active), on the tiny model and on the
full-size SD 2.1-base architecture (random weights, `random_sd`), beside the plain render they follow.

Random weights render noise, in which the face model finds no face: `face_detail` is timed on one face
at the image's centre (its bound is `max_faces` crops; the cost model counts that bound), and the face
model's own detection time is measured apart, on a photograph at the render size. Steps are reduced
(CPU minutes, not GPU seconds): the per-step figure is what scales to a deployed request's steps.
"""

from __future__ import annotations

import gc
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, Result, Stats, full_size_enabled

NAME = "finishing"
FULL_SIZE_SIDE = 256
PROMPT = "a portrait photo of a person, detailed face"  # as rendered (<<TOK>> replaced)


def _centre_face(image: Any) -> list[Any]:
    from avatar_runtime.finishing import FaceBox

    side = min(image.size) / 4
    return [FaceBox(image.size[0] / 2 - side / 2, image.size[1] / 2 - side / 2, side)]


def _passes(steps: int, pass_steps: int) -> dict[str, Any]:
    from avatar_contract.generation import FaceDetailPass, GenArgs, HiresPass

    return {
        "hires": GenArgs(num_inference_steps=steps, hires=HiresPass(scale=1.5, steps=pass_steps)),
        "face_detail": GenArgs(
            num_inference_steps=steps, face_detail=FaceDetailPass(steps=pass_steps, max_faces=1)
        ),
    }


def _measure(
    result: Result,
    label: str,
    base: Path,
    dtype: str,
    steps: int,
    pass_steps: int,
    repeats: int,
    side: int | None = None,
) -> None:
    """`side`: the render size (default: the model's native size, which face crops are rendered at)."""
    from avatar_contract.generation import hires_side, img2img_steps
    from avatar_runtime.rendering import finish, render
    from benchmarks.artifacts import adapter_copies, random_adapter
    from hosting_server.engine import BaseModelEngine, CacheBound

    work = Path(tempfile.mkdtemp(prefix="bench-finishing-"))
    try:
        [(model_id, adapter)] = adapter_copies(random_adapter(base, 32, 16), (32, 16), 1, work)
        engine = BaseModelEngine(
            base, bound=CacheBound(max_adapters=2, max_bytes=0), device="cpu", dtype=dtype
        )
        engine.ensure_adapter(model_id, adapter)
        engine.activate(model_id)  # the user's LoRA is active through the passes, as in a request
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = side or engine.native_size
    assert engine.img2img is not None  # built once, on the first pass: not counted below
    render(engine.pipe, PROMPT, seed=0, size=size, steps=1)  # warm-up
    plain = []
    images: list[Any] = []
    for seed in range(repeats):
        started = time.perf_counter()
        images = render(engine.pipe, PROMPT, seed=seed, size=size, steps=steps)
        plain.append(time.perf_counter() - started)
    result.add(Figure(label, f"plain render {size}px, {steps} steps", "s", Stats(plain)))
    for name, args in _passes(steps, pass_steps).items():
        seconds = []
        for seed in range(repeats):
            started = time.perf_counter()
            finish(engine.img2img, images, PROMPT, seed=seed, args=args, work_size=size, finder=_centre_face)
            seconds.append(time.perf_counter() - started)
        chosen = args.hires or args.face_detail
        assert chosen is not None
        denoise = img2img_steps(pass_steps, chosen.strength)
        where = f"{hires_side(size, 1.5)}px" if name == "hires" else f"1 face crop at {size}px"
        result.add(Figure(label, f"{name} pass ({where}, {denoise} denoising steps)", "s", Stats(seconds)))
        result.add(
            Figure(
                label,
                f"{name} pass per denoising step",
                "s/step",
                Stats([s / denoise for s in seconds]),
                note="upscale, VAE encode/decode and paste included",
            )
        )
    del engine
    gc.collect()


def _detection(result: Result, size: int) -> None:
    """The face model's time to find the faces of one image at the render size (what face_detail adds
    before any denoising)."""
    import sys

    from PIL import Image

    from benchmarks.common import REPO_ROOT
    from face_analysis.models import models

    sys.path.insert(0, str(REPO_ROOT))
    from avatar_runtime.finishing import find_face_boxes
    from tests.fixtures.faces import astronaut

    models()
    photo = astronaut().resize((size, size), Image.Resampling.LANCZOS)
    seconds = []
    for _ in range(5):
        started = time.perf_counter()
        found = find_face_boxes(photo)
        seconds.append(time.perf_counter() - started)
    result.add(Figure("face model", f"face detection at {size}px", "s", Stats(seconds)))
    result.notes.append(f"face detection found {len(found)} face(s) in the {size}px photograph")


def run(toy: bool = False) -> Result:
    from benchmarks.models import full_size_pipeline, tiny_pipeline

    result = Result(NAME, "Finishing passes hires and face_detail on CPU (issue 25)", toy)
    tiny_steps = (2, 4) if toy else (10, 10)
    full_steps = (2, 4)  # render 2 steps; passes 4 -> int(4 x 0.35) = 1 hires and int(4 x 0.4) = 1 face step
    result.settings = {
        "engine": "hosting_server.engine.BaseModelEngine, CPU, its img2img over the resident components, "
        "a random rank 32/16 LoRA active",
        "hires": "scale 1.5, strength 0.35 (int(steps x strength) denoising steps)",
        "face_detail": "1 face at the centre (random weights draw no face), margin 2.0, strength 0.4",
        "tiny_steps": {"render": tiny_steps[0], "passes": tiny_steps[1]},
        "full_size_steps": {"render": full_steps[0], "passes": full_steps[1]},
        "full_size_side": FULL_SIZE_SIDE,
    }
    _measure(result, "tiny", tiny_pipeline(), "float32", *tiny_steps, repeats=1 if toy else 3)
    _detection(result, 512)
    if toy or not full_size_enabled():
        result.skip("full-size architecture", "not run with --toy" if toy else "--no-full-size")
        return result
    _measure(
        result,
        f"full-size SD 2.1 fp32 {FULL_SIZE_SIDE}px",
        full_size_pipeline(),
        "float32",
        *full_steps,
        repeats=1,
        side=FULL_SIZE_SIDE,
    )
    result.notes.append(
        f"full-size: {FULL_SIZE_SIDE} px (the training benchmark's full-size size; 512 px, the native size, "
        "did not finish within 40 minutes on the shared 2-core machine) and reduced steps (render 2, "
        "hires 1 and face_detail 1 denoising step), one run each; the per-step figure scales to a "
        "deployed request's steps, about 4x the pixels at 512 px"
    )
    return result
