"""The generation contract: `gen_args` and the KServe v2 payload of the hosted models (docs/design.md §3–4).

The reference's payload (BYTES inputs `prompt`, `negative_prompt`, `gen_args` with
`num_inference_steps`, `guidance_scale`, `seed`; output `generated_image`) works unchanged; we add
`num_images`, `width`, `height`, `output_format` and `default_negative_prompt` to `gen_args`. The defaults
are the shared renderer's (`avatar_contract.rendering`: DPM-Solver++ 2M Karras, 25 steps, guidance 7.5).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OUTPUT_NAME = "generated_image"


class GenArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_inference_steps: int = Field(25, ge=1, le=100)  # rendering.DEFAULT_STEPS
    guidance_scale: float = Field(7.5, ge=0, le=20)  # rendering.DEFAULT_GUIDANCE_SCALE
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    num_images: int = Field(1, ge=1, le=4)
    # None: the model's trained resolution (its metadata), else the base model's native size (512: SD 2.1).
    width: int | None = Field(None, ge=64, le=1024, multiple_of=8)
    height: int | None = Field(None, ge=64, le=1024, multiple_of=8)
    output_format: Literal["jpeg", "png"] = "jpeg"
    # With no negative prompt sent: true renders with rendering.DEFAULT_NEGATIVE_PROMPT, false with none.
    default_negative_prompt: bool = True


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
