"""The reference design's per-user Triton model (docs/design.md §3), rebuilt for comparison only.

In the public sample this product grows out of, every per-user model loaded a whole Stable Diffusion
pipeline by itself (≈2.6 GB of fp16 weights on the GPU per user) and then applied its own fine-tuned
attention weights. This file reproduces that design faithfully so the benchmark can load N of these and
N of ours on the same Triton server: `initialize` loads the full pipeline from the base model directory
(its path is a parameter in config.pbtxt, standing in for the sample's "setup model" that had downloaded
the base to the instance first) and the model's own LoRA file; `execute` renders the reference payload.

Never packaged into the product; only `benchmarks/bench_triton_load.py` uses it.
"""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import numpy as np
import torch
import triton_python_backend_utils as pb_utils
from diffusers import StableDiffusionPipeline

ADAPTER_FILE = "pytorch_lora_weights.safetensors"


def _param(config: dict, key: str, default: str) -> str:
    return config.get("parameters", {}).get(key, {}).get("string_value", default)


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        base_dir = _param(config, "base_model_dir", "")
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        # The same precision rule and override as our base model: fp16 on a GPU, fp32 on CPU.
        dtype_name = os.environ.get("AVATAR_TORCH_DTYPE", "auto")
        if dtype_name == "auto":
            dtype_name = "float16" if self.device == "cuda" else "float32"
        dtype = getattr(torch, dtype_name)
        version_dir = Path(args["model_repository"]) / args["model_version"]
        pipe = StableDiffusionPipeline.from_pretrained(
            base_dir, torch_dtype=dtype, safety_checker=None, requires_safety_checker=False
        )
        if (version_dir / ADAPTER_FILE).is_file():
            pipe.load_lora_weights(str(version_dir), weight_name=ADAPTER_FILE)
        self.pipe = pipe.to(self.device)
        if self.device == "cpu":
            materialize(pipe)

    def execute(self, requests: list) -> list:
        responses = []
        for request in requests:
            prompt = _text(request, "prompt")
            negative = _text(request, "negative_prompt")
            args = json.loads(_text(request, "gen_args") or "{}")
            generator = torch.Generator(self.device).manual_seed(int(args.get("seed", 0)))
            images = self.pipe(
                prompt,
                negative_prompt=negative or None,
                num_inference_steps=int(args.get("num_inference_steps", 30)),
                guidance_scale=float(args.get("guidance_scale", 7.5)),
                width=int(args.get("width", 512)),
                height=int(args.get("height", 512)),
                generator=generator,
            ).images
            encoded = []
            for image in images:
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG")
                encoded.append(base64.b64encode(buffer.getvalue()))
            out = pb_utils.Tensor("generated_image", np.array([encoded], dtype=np.object_))
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses


def materialize(pipe: StableDiffusionPipeline) -> None:
    """Copy every weight into this process's memory. On a GPU, `.to("cuda")` reads and copies the whole
    pipeline; on CPU, diffusers memory-maps the safetensors files and would read them lazily at the
    first request, hiding the load's real cost and memory. Copying makes the CPU load as real."""
    with torch.no_grad():
        for module in (pipe.unet, pipe.vae, pipe.text_encoder):  # type: ignore[attr-defined]  # diffusers' __init__ shows type checkers its dummy class
            for param in module.parameters():
                param.data = param.data.clone()


def _text(request: object, name: str) -> str:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return ""
    value = tensor.as_numpy().reshape(-1)[0]
    return value.decode() if isinstance(value, bytes) else str(value)
