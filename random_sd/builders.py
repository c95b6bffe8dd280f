"""Builders for random-weight SD 2.x pipelines (see the package docstring)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from random_sd.cache import tiny_pipeline_dir
from random_sd.tokenizer import build_tokenizer

# The training noise schedule SD 2.1-base and SDXL 1.0 share (scheduler/scheduler_config.json of
# stabilityai/stable-diffusion-2-1-base and of stabilityai/stable-diffusion-xl-base-1.0).
_NOISE_SCHEDULE = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    num_train_timesteps=1000,
    prediction_type="epsilon",
    steps_offset=1,
)
# SD 2.1-base's scheduler (PNDM).
_SCHEDULER = dict(**_NOISE_SCHEDULE, set_alpha_to_one=False, skip_prk_steps=True)


# The tiny pipelines' text encoders (the SD 2.x one and both of SDXL's), in CLIPTextConfig's terms.
_TINY_TEXT_ENCODER: dict[str, Any] = dict(
    hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, projection_dim=32
)


def _clip_config(tokenizer: CLIPTokenizer, hidden_act: str = "gelu", **sizes: Any) -> CLIPTextConfig:
    """A CLIP text encoder's configuration for `tokenizer`'s vocabulary and length, sized by `sizes`
    (CLIPTextConfig's hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
    projection_dim)."""
    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=tokenizer.model_max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_act=hidden_act,
        **sizes,
    )


def _save(
    unet: UNet2DConditionModel,
    vae: AutoencoderKL,
    text_encoder: CLIPTextModel,
    tokenizer: CLIPTokenizer,
    out_dir: Path,
    dtype: torch.dtype,
) -> Path:
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=PNDMScheduler(**_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.to(dtype=dtype)  # type: ignore[attr-defined]  # diffusers' __init__ shows type checkers its dummy class
    out_dir.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(out_dir, safe_serialization=True)  # type: ignore[attr-defined]  # as above
    return out_dir


def _unet(
    *,
    sample_size: int,
    widths: tuple[int, ...],
    head_dims: tuple[int, ...],
    layers_per_block: int,
    cross_attention_dim: int,
    plain_block: int = -1,
    **extra: Any,
) -> UNet2DConditionModel:
    """A randomly initialised UNet (4 latent channels): one block per width, with cross-attention in all
    but `plain_block` (SD 2.x: the deepest, -1; SDXL: the first, 0), the up path mirroring the down path;
    SD 2.x's unless `extra` (UNet2DConditionModel's other arguments) says otherwise."""
    down = ["CrossAttnDownBlock2D"] * len(widths)
    down[plain_block] = "DownBlock2D"
    return UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=4,
        out_channels=4,
        layers_per_block=layers_per_block,
        block_out_channels=widths,
        down_block_types=tuple(down),
        up_block_types=tuple(block.replace("Down", "Up") for block in reversed(down)),
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=head_dims,
        use_linear_projection=True,
        **extra,
    )


def _vae(*, sample_size: int, widths: tuple[int, ...], layers_per_block: int, **extra: Any) -> AutoencoderKL:
    """A randomly initialised VAE (4 latent channels): one encoder and one decoder block per width; SD 2.x's
    unless `extra` (AutoencoderKL's other arguments) says otherwise."""
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(widths),
        up_block_types=("UpDecoderBlock2D",) * len(widths),
        block_out_channels=widths,
        layers_per_block=layers_per_block,
        latent_channels=4,
        sample_size=sample_size,
        **extra,
    )


def build_tiny_pipeline(out_dir: Path | str, seed: int = 0) -> Path:
    """A tiny SD 2.x-style pipeline (about 1 M parameters; 32 px latents render a 64 px image)."""
    torch.manual_seed(seed)
    unet = _unet(sample_size=8, widths=(32, 64), head_dims=(2, 4), layers_per_block=1, cross_attention_dim=32)
    vae = _vae(sample_size=64, widths=(32, 64), layers_per_block=1)
    tokenizer = build_tokenizer()
    text_encoder = CLIPTextModel(_clip_config(tokenizer, **_TINY_TEXT_ENCODER))
    return _save(unet, vae, text_encoder, tokenizer, Path(out_dir), torch.float32)


def full_size_components() -> dict[str, Any]:
    """The SD 2.1-base architecture's components (UNet 866 M, VAE 84 M, OpenCLIP ViT-H text encoder
    340 M parameters), randomly initialised on torch's current default device (`meta`: sizes only)."""
    unet = _unet(
        sample_size=64,
        widths=(320, 640, 1280, 1280),
        head_dims=(5, 10, 20, 20),
        layers_per_block=2,
        cross_attention_dim=1024,
    )
    vae = _vae(sample_size=512, widths=(128, 256, 512, 512), layers_per_block=2)
    tokenizer = build_tokenizer(vocab_size=49408)
    # OpenCLIP ViT-H/14's text tower, as SD 2.x uses it (the last of its 24 layers is dropped).
    text_encoder = CLIPTextModel(
        _clip_config(
            tokenizer,
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=23,
            num_attention_heads=16,
            projection_dim=512,
        )
    )
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer}


def build_full_size_pipeline(out_dir: Path | str, dtype: torch.dtype = torch.float16, seed: int = 0) -> Path:
    """The SD 2.1-base architecture with random weights (`full_size_components`), saved in `dtype`: the
    same compute and memory as the real model, no download."""
    torch.manual_seed(seed)
    parts = full_size_components()
    return _save(
        parts["unet"],
        parts["vae"],
        parts["text_encoder"],
        parts["tokenizer"],
        Path(out_dir),
        dtype,
    )


def ensure_built(target: Path, build: Callable[[Path], object]) -> Path:
    """`target`, made by `build(folder)` unless it already holds a pipeline (idempotent, safe to call
    from parallel processes: it builds into a temporary directory beside `target` and renames)."""
    if (target / "model_index.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".build-"))
    try:
        build(staging / "pipe")
        with contextlib.suppress(OSError):  # another process won the race: use its copy
            os.rename(staging / "pipe", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def ensure_tiny_pipeline(cache_dir: Path | str | None = None) -> Path:
    """Build the tiny pipeline once into a cache directory and return its path (see `ensure_built`)."""
    return ensure_built(tiny_pipeline_dir(cache_dir), build_tiny_pipeline)
