"""The one way an image is rendered (docs/hosting.md "Rendering"): class images, training previews,
checkpoint scoring and the hosting endpoint all call `render` on a pipeline prepared by `prepare`, so the
likeness the training measures is the likeness of the images users receive.

- **Sampler**: DPM-Solver++ (2nd-order multistep, Karras sigmas), `DEFAULT_STEPS` = 25 denoising steps
  (diffusers' "DPM++ 2M Karras"; converges in 20–25 steps where the pipeline's default PNDM needs 50).
- **Precision**: fp16 on a GPU, fp32 on the CPU (`render_dtype`), whatever the training's own precision.
- **Noise**: image i of a call uses its own CPU generator seeded `seed + i`, so a seed gives the same
  latents on every device and in every batch split.
- **Negative prompt**: `DEFAULT_NEGATIVE_PROMPT` when none is sent (SD 2.x relies on one).
- **Memory**: VAE slicing, and batches split so that none exceeds `MAX_BATCH_PIXELS`.

`RENDER_VERSION` is written into each model's metadata: images rendered under another version differ for
the same seed. Torch and diffusers are imported only when a pipeline is prepared (the Lambda functions
import `avatar_contract` without them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

RENDER_VERSION: Final = 2  # 1: PNDM (the pipeline default), device generators, no default negative prompt
DEFAULT_STEPS: Final = 25
DEFAULT_GUIDANCE_SCALE: Final = 7.5
# The usual SD 2.x negative prompt for photographs of people: what the model drifts to without one.
DEFAULT_NEGATIVE_PROMPT: Final = (
    "blurry, lowres, low quality, jpeg artifacts, deformed, disfigured, bad anatomy, extra limbs, "
    "extra fingers, cropped, watermark, text, cartoon, 3d render"
)
# Pixels rendered in one UNet batch: 2 × 1024² (8 × 512²). Larger requests are rendered in several
# batches (same images: each has its own generator), so activations stay bounded and an out-of-memory
# error means the resident adapters, not the request, must make room.
MAX_BATCH_PIXELS: Final = 2 * 1024 * 1024


def render_dtype(device: str) -> Any:
    """fp16 on a GPU (what hosting serves), fp32 on the CPU (half precision there is slow and unstable)."""
    import torch

    return torch.float16 if str(device).startswith("cuda") else torch.float32


def prepare(pipe: Any) -> Any:
    """Give a loaded `StableDiffusionPipeline` the shared sampler, VAE slicing and no progress bar."""
    from diffusers import DPMSolverMultistepScheduler

    pipe.scheduler = DPMSolverMultistepScheduler.from_config(
        pipe.scheduler.config, algorithm_type="dpmsolver++", solver_order=2, use_karras_sigmas=True
    )
    pipe.vae.enable_slicing()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_pipeline(source: Any, device: str, dtype: Any = None) -> Any:
    """The base pipeline from `source` (a local directory), prepared, on `device` at `render_dtype`."""
    from diffusers import StableDiffusionPipeline

    from avatar_contract.base_model import weights_variant

    pipe = StableDiffusionPipeline.from_pretrained(
        source,
        dtype=dtype or render_dtype(device),
        safety_checker=None,
        requires_safety_checker=False,
        variant=weights_variant(source),  # "fp16" for the staged default: cast to `dtype` on load
    )
    return prepare(pipe).to(device)


def batches(count: int, width: int, height: int, max_pixels: int = MAX_BATCH_PIXELS) -> list[range]:
    """Image indices split into batches of at most `max_pixels` (at least one image each)."""
    size = max(1, max_pixels // (width * height))
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


def render(
    pipe: Any,
    prompt: str,
    *,
    seed: int,
    count: int = 1,
    size: int | tuple[int, int],
    negative_prompt: str | None = None,
    steps: int = DEFAULT_STEPS,
    guidance_scale: float = DEFAULT_GUIDANCE_SCALE,
    callback: Callable[..., dict] | None = None,
    max_pixels: int = MAX_BATCH_PIXELS,
) -> list[Any]:
    """`count` PIL images of `prompt`: image i from a CPU generator seeded `seed + i` (mod 2³²).
    `negative_prompt` None: `DEFAULT_NEGATIVE_PROMPT`; "" renders without one."""
    import torch

    width, height = (size, size) if isinstance(size, int) else size
    negative = DEFAULT_NEGATIVE_PROMPT if negative_prompt is None else negative_prompt
    images: list[Any] = []
    for batch in batches(count, width, height, max_pixels):
        generators = [torch.Generator("cpu").manual_seed((seed + i) % 2**32) for i in batch]
        with torch.inference_mode():
            out = pipe(
                prompt=[prompt] * len(batch),
                negative_prompt=[negative] * len(batch),
                num_inference_steps=steps,
                guidance_scale=guidance_scale,
                width=width,
                height=height,
                generator=generators,
                output_type="pil",
                callback_on_step_end=callback,
            )
        images.extend(out.images)
    return images


def render_prompts(
    pipe: Any,
    prompts: Sequence[str],
    seeds: Sequence[int],
    *,
    size: int,
    steps: int = DEFAULT_STEPS,
    callback: Callable[..., dict] | None = None,
) -> list[Any]:
    """One image per (prompt, seed), prompt-major: each exactly what the endpoint renders for that prompt
    with `num_images` 1 and that seed."""
    return [
        image
        for prompt in prompts
        for seed in seeds
        for image in render(pipe, prompt, seed=seed, size=size, steps=steps, callback=callback)
    ]
