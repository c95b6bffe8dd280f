"""The generation contract: `gen_args` and the KServe v2 payload of the hosted models (docs/design.md §3–4).

The reference's payload (BYTES inputs `prompt`, `negative_prompt`, `gen_args` with
`num_inference_steps`, `guidance_scale`, `seed`; output `generated_image`) works unchanged; we add
`num_images`, `width`, `height`, `output_format` and `default_negative_prompt` to `gen_args`, and the
optional finishing passes `hires` and `face_detail` (docs/hosting.md "Finishing passes"; absent: nothing
changes). The defaults are the shared renderer's (`avatar_runtime.rendering`: DPM-Solver++ 2M Karras,
25 steps, guidance 7.5). `pixel_steps` is the one cost model of a request (the API's bounds and quotas).
`GenArgs` accepts the sizes of any base family; `family_bounds_problem` checks one family's (the API
before anything is queued, the hosting engine before rendering).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from avatar_contract.families import DEFAULT_FAMILY, FAMILIES, FamilyName, family

OUTPUT_NAME = "generated_image"
# The largest side a hires pass may produce in any family (its own bound: `family_bounds_problem`).
HIRES_MAX_SIDE = max(f.generation.hires_max_side for f in FAMILIES.values())
_MIN_SIDE = min(f.generation.min_side for f in FAMILIES.values())
_MAX_SIDE = max(f.generation.max_side for f in FAMILIES.values())


class HiresPass(BaseModel):
    """Render at the base size, upscale by `scale` (Lanczos), then img2img the whole image at `strength`
    (denoising `int(steps x strength)` steps) with the same prompt and LoRA: detail at a larger size
    without the duplicated limbs of rendering large directly."""

    model_config = ConfigDict(extra="forbid")

    scale: float = Field(1.5, ge=1.5, le=2.0)
    strength: float = Field(0.35, ge=0.1, le=0.6)
    steps: int | None = Field(None, ge=1, le=100)  # None: the generation's num_inference_steps


class FaceDetailPass(BaseModel):
    """Find faces (the project's face model), crop each with `margin` x its side, upscale the crop to the
    base size, img2img it at `strength` with the prompt and LoRA, and paste it back with a feathered mask
    (the ADetailer approach): sharp faces in half-body shots. At most `max_faces`, largest first."""

    model_config = ConfigDict(extra="forbid")

    strength: float = Field(0.4, ge=0.1, le=0.7)
    max_faces: int = Field(2, ge=1, le=4)
    margin: float = Field(2.0, ge=1.2, le=3.0)
    steps: int | None = Field(None, ge=1, le=100)  # None: the generation's num_inference_steps


class GenArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_inference_steps: int = Field(25, ge=1, le=100)  # rendering.DEFAULT_STEPS
    guidance_scale: float = Field(7.5, ge=0, le=20)  # rendering.DEFAULT_GUIDANCE_SCALE
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    num_images: int = Field(1, ge=1, le=4)
    # None: the model's trained resolution (its metadata), else the base family's native size.
    width: int | None = Field(None, ge=_MIN_SIDE, le=_MAX_SIDE, multiple_of=8)
    height: int | None = Field(None, ge=_MIN_SIDE, le=_MAX_SIDE, multiple_of=8)
    output_format: Literal["jpeg", "png"] = "jpeg"
    # With no negative prompt sent: true renders with rendering.DEFAULT_NEGATIVE_PROMPT, false with none.
    default_negative_prompt: bool = True
    # Finishing passes (None: not run; the reference payload never sets them).
    hires: HiresPass | None = None
    face_detail: FaceDetailPass | None = None

    @model_validator(mode="after")
    def _hires_fits(self) -> GenArgs:
        if self.hires is not None:
            for name in ("width", "height"):
                side = getattr(self, name)
                if side is not None and hires_side(side, self.hires.scale) > HIRES_MAX_SIDE:
                    raise ValueError(
                        f"hires: {name} {side} x scale {self.hires.scale:g} exceeds {HIRES_MAX_SIDE} px"
                    )
        return self


def family_bounds_problem(args: GenArgs, base_family: FamilyName | str = DEFAULT_FAMILY) -> str | None:
    """None when `args` fits the family's generation bounds; else which field does not, and why (absent
    sizes count as the family's native size)."""
    chosen = family(base_family)
    bounds = chosen.generation
    sides = {"width": args.width, "height": args.height}
    for name, side in sides.items():
        if side is not None and not bounds.min_side <= side <= bounds.max_side:
            limits = f"{bounds.min_side}-{bounds.max_side} px"
            return f"{name}: {side} px is outside {limits} for base family {chosen.name}"
    if not bounds.steps.minimum <= args.num_inference_steps <= bounds.steps.maximum:
        return (
            f"num_inference_steps: {args.num_inference_steps} is outside {bounds.steps.minimum}-"
            f"{bounds.steps.maximum} for base family {chosen.name}"
        )
    if args.hires is not None:
        for name, side in sides.items():
            upscaled = hires_side(side or chosen.native_resolution, args.hires.scale)
            if upscaled > bounds.hires_max_side:
                return (
                    f"hires: {name} {side or chosen.native_resolution} x scale {args.hires.scale:g} exceeds "
                    f"{bounds.hires_max_side} px for base family {chosen.name}"
                )
    return None


def hires_side(side: int, scale: float) -> int:
    """A side after the hires upscale, rounded to a multiple of 8 (what the VAE accepts)."""
    return max(8, round(side * scale / 8) * 8)


def img2img_steps(steps: int, strength: float) -> int:
    """Denoising steps an img2img pass runs (diffusers: `int(steps x strength)`, at least 1)."""
    return max(1, min(steps, int(steps * strength)))


def output_size(args: GenArgs, native_size: int) -> tuple[int, int]:
    """Width and height of the images returned (after a hires pass)."""
    width, height = args.width or native_size, args.height or native_size
    if args.hires is not None:
        return hires_side(width, args.hires.scale), hires_side(height, args.hires.scale)
    return width, height


def pixel_steps(args: GenArgs, native_size: int) -> int:
    """The cost of a request in pixel-steps (images x pixels x denoising steps), finishing passes
    included: hires at the upscaled size for its img2img steps; face_detail at `max_faces` crops of the
    base size each (the bound, whatever the image holds)."""
    width, height = args.width or native_size, args.height or native_size
    per_image = width * height * args.num_inference_steps
    if args.hires is not None:
        out_w, out_h = output_size(args, native_size)
        steps = img2img_steps(args.hires.steps or args.num_inference_steps, args.hires.strength)
        per_image += out_w * out_h * steps
    if args.face_detail is not None:
        face = args.face_detail
        steps = img2img_steps(face.steps or args.num_inference_steps, face.strength)
        per_image += face.max_faces * native_size * native_size * steps
    return args.num_images * per_image


def _bytes_input(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "shape": [1, 1], "datatype": "BYTES", "data": [value]}


def build_inference_request(prompt: str, negative_prompt: str, gen_args: GenArgs | dict) -> dict[str, Any]:
    """The KServe v2 JSON body for `InvokeEndpoint` on a per-user model."""
    args = gen_args if isinstance(gen_args, dict) else gen_args.model_dump(exclude_none=True)
    return {
        "inputs": [
            _bytes_input("prompt", prompt),
            _bytes_input("negative_prompt", negative_prompt),
            _bytes_input("gen_args", json.dumps(args)),
        ]
    }


def images_from_response(body: dict[str, Any]) -> list[str]:
    """The base64-encoded images in a KServe v2 response (`generated_image` output)."""
    for output in body.get("outputs", []):
        if output.get("name") == OUTPUT_NAME:
            return [item.decode() if isinstance(item, bytes) else item for item in output["data"]]
    raise ValueError(f"response has no {OUTPUT_NAME!r} output")
