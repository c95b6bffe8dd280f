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
    """Give a loaded pipeline (SD 2.x or SDXL) the shared sampler, VAE slicing and no progress bar."""
    from diffusers import DPMSolverMultistepScheduler

    pipe.scheduler = DPMSolverMultistepScheduler.from_config(
        pipe.scheduler.config, algorithm_type="dpmsolver++", solver_order=2, use_karras_sigmas=True
    )
    pipe.vae.enable_slicing()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def pipeline_class(source: Any) -> Any:
    """The diffusers text-to-image pipeline class a local pipeline folder names (`model_index.json`'s
    `_class_name`: `StableDiffusionPipeline`, `StableDiffusionXLPipeline`, ...)."""
    import json
    from pathlib import Path

    import diffusers

    name = json.loads((Path(source) / "model_index.json").read_text())["_class_name"]
    return getattr(diffusers, name)


def pipeline_family(source: Any) -> Any:
    """The base family (`avatar_contract.families.BaseFamily`) whose text-to-image pipeline class the
    folder names; ValueError for a class no family has."""
    from avatar_contract.families import FAMILIES

    name = pipeline_class(source).__name__
    for candidate in FAMILIES.values():
        if candidate.text2img_pipeline == name:
            return candidate
    raise ValueError(f"no base-model family has the pipeline class {name} of {source}")


def load_pipeline(source: Any, device: str, dtype: Any = None) -> Any:
    """The base pipeline from `source` (a local directory; its own class: SD 2.x or SDXL), prepared, on
    `device` at `render_dtype`."""
    import inspect

    from avatar_runtime.base_model import weights_variant

    cls = pipeline_class(source)
    extra: dict[str, Any] = {}
    if "requires_safety_checker" in inspect.signature(cls.__init__).parameters:  # SD 1.x/2.x pipelines
        extra = {"safety_checker": None, "requires_safety_checker": False}
    pipe = cls.from_pretrained(
        source,
        dtype=dtype or render_dtype(device),
        variant=weights_variant(source),  # "fp16" for the staged default: cast to `dtype` on load
        **extra,
    )
    return prepare(pipe).to(device)


def batches(count: int, width: int, height: int, max_pixels: int = MAX_BATCH_PIXELS) -> list[range]:
    """Image indices split into batches of at most `max_pixels` (at least one image each)."""
    size = max(1, max_pixels // (width * height))
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


def _negative(negative_prompt: str | None) -> str:
    """The negative prompt rendered: `DEFAULT_NEGATIVE_PROMPT` for None, none for ""."""
    return DEFAULT_NEGATIVE_PROMPT if negative_prompt is None else negative_prompt


def _pil_images(pipe: Any, callback: Callable[..., dict] | None, **inputs: Any) -> list[Any]:
    """`pipe(**inputs)`'s PIL images, rendered without autograd, `callback` at the end of each step."""
    import torch

    with torch.inference_mode():
        out = pipe(**inputs, output_type="pil", callback_on_step_end=callback)
    return list(out.images)


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
    images: list[Any] = []
    for batch in batches(count, width, height, max_pixels):
        images += _pil_images(
            pipe,
            callback,
            prompt=[prompt] * len(batch),
            negative_prompt=[_negative(negative_prompt)] * len(batch),
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            width=width,
            height=height,
            generator=[torch.Generator("cpu").manual_seed((seed + i) % 2**32) for i in batch],
        )
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


def img2img_pipeline(pipe: Any) -> Any:
    """An img2img pipeline over `pipe`'s own components (no second copy of any weight, the same sampler
    and whatever LoRA adapter `pipe` has active): the finishing passes' denoiser, of `pipe`'s family
    (diffusers' AutoPipelineForImage2Image maps each text-to-image class to its img2img class)."""
    from diffusers import AutoPipelineForImage2Image

    img2img: Any = AutoPipelineForImage2Image.from_pipe(pipe)
    img2img.set_progress_bar_config(disable=True)
    return img2img


def refine(
    img2img: Any,
    image: Any,
    prompt: str,
    *,
    seed: int,
    strength: float,
    steps: int,
    negative_prompt: str | None = None,
    guidance_scale: float = DEFAULT_GUIDANCE_SCALE,
    callback: Callable[..., dict] | None = None,
) -> Any:
    """`image` re-rendered at `strength` (img2img: `int(steps x strength)` denoising steps) with a CPU
    generator seeded `seed`; the same size comes back."""
    import torch

    return _pil_images(
        img2img,
        callback,
        prompt=prompt,
        negative_prompt=_negative(negative_prompt),
        image=image,
        strength=strength,
        num_inference_steps=steps,
        guidance_scale=guidance_scale,
        generator=torch.Generator("cpu").manual_seed(seed % 2**32),
    )[0]


def finish(
    img2img: Any,
    images: Sequence[Any],
    prompt: str,
    *,
    seed: int,
    args: Any,
    work_size: int,
    negative_prompt: str | None = None,
    finder: Callable[[Any], list[Any]] | None = None,
    callback_for: Callable[[int], Callable[..., dict] | None] | None = None,
) -> list[Any]:
    """The finishing passes `args.hires` then `args.face_detail` (an `avatar_contract.generation.GenArgs`)
    on rendered `images` (image i refined with seed `seed + i`). `work_size` is the base size face crops
    are rendered at; `finder` finds faces (default: the project's face model)."""
    from avatar_contract.generation import hires_side
    from avatar_runtime import finishing

    def denoise(image: Any, index: int, strength: float, steps: int | None) -> Any:
        steps = steps or args.num_inference_steps
        return refine(
            img2img,
            image,
            prompt,
            seed=seed + index,
            strength=strength,
            steps=steps,
            negative_prompt=negative_prompt,
            guidance_scale=args.guidance_scale,
            callback=callback_for(steps) if callback_for else None,
        )

    out = list(images)
    if args.hires is not None:
        hires = args.hires
        out = [
            denoise(
                finishing.upscale(
                    image, (hires_side(image.width, hires.scale), hires_side(image.height, hires.scale))
                ),
                i,
                hires.strength,
                hires.steps,
            )
            for i, image in enumerate(out)
        ]
    if args.face_detail is not None:
        face = args.face_detail
        find = finder or finishing.find_face_boxes
        detailed = []
        for i, image in enumerate(out):

            def refine_face(crop: Any, _face: int, i: int = i) -> Any:
                return denoise(crop, i, face.strength, face.steps)

            regions = finishing.face_regions(image, face.margin, face.max_faces, find)
            detailed.append(finishing.detail_regions(image, regions, refine_face, work_size))
        out = detailed
    return out
