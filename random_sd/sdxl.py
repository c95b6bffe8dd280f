"""Random-weight SDXL 1.0 pipelines, built in code with no downloads (the SD 2.x ones: `builders`).

SDXL differs from SD 2.x in what this module builds: two CLIP text encoders (OpenAI ViT-L, and OpenCLIP
ViT-bigG *with* its projection, whose pooled output conditions the UNet), their hidden states concatenated
into the cross-attention context, a UNet with `addition_embed_type="text_time"` (the pooled prompt
embedding plus six micro-conditioning numbers: original size, crop top-left, target size), 1024 px native
resolution and a VAE scaling factor of 0.13025. `build_tiny_sdxl_pipeline` is small enough to train and
render on a laptop CPU in seconds; `build_full_size_sdxl_pipeline` is the real architecture (UNet 2.57 G,
text encoders 123 M + 695 M, VAE 84 M parameters) for the benchmarks.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTextModelWithProjection

from random_sd.builders import _NOISE_SCHEDULE, _TINY_TEXT_ENCODER, _clip_config, _unet, _vae, ensure_built
from random_sd.cache import TINY_SDXL_PIPELINE_FOLDER, tiny_pipeline_dir
from random_sd.tokenizer import build_tokenizer

# SDXL 1.0's scheduler (Euler; scheduler/scheduler_config.json of stabilityai/stable-diffusion-xl-base-1.0).
_SCHEDULER = dict(
    **_NOISE_SCHEDULE, timestep_spacing="leading", interpolation_type="linear", use_karras_sigmas=False
)
SDXL_VAE_SCALING_FACTOR = 0.13025
MICRO_CONDITIONS = 6  # original (h, w), crop top-left (y, x), target (h, w)


def _sdxl_unet(
    *,
    sample_size: int,
    widths: tuple[int, ...],
    head_dims: tuple[int, ...],
    transformer_layers: tuple[int, ...],
    cross_attention_dim: int,
    time_embed_dim: int,
    pooled_dim: int,
) -> UNet2DConditionModel:
    """An SDXL UNet: no attention in the first (highest-resolution) block, cross-attention below it with
    `transformer_layers` per block, and the "text_time" added embedding."""
    return _unet(
        sample_size=sample_size,
        widths=widths,
        head_dims=head_dims,
        layers_per_block=2,
        cross_attention_dim=cross_attention_dim,
        plain_block=0,
        transformer_layers_per_block=transformer_layers,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_embed_dim,
        projection_class_embeddings_input_dim=MICRO_CONDITIONS * time_embed_dim + pooled_dim,
    )


def _sdxl_vae(
    *, sample_size: int, widths: tuple[int, ...], layers_per_block: int, groups: int = 32
) -> AutoencoderKL:
    return _vae(
        sample_size=sample_size,
        widths=widths,
        layers_per_block=layers_per_block,
        norm_num_groups=groups,
        scaling_factor=SDXL_VAE_SCALING_FACTOR,
        force_upcast=False,  # as madebyollin/sdxl-vae-fp16-fix, the VAE the SDXL manifest stages
    )


def _save(parts: dict[str, object], out_dir: Path, dtype: torch.dtype) -> Path:
    pipe = StableDiffusionXLPipeline(
        **parts,
        scheduler=EulerDiscreteScheduler(**_SCHEDULER),
        force_zeros_for_empty_prompt=True,
    )
    pipe.to(dtype=dtype)  # type: ignore[attr-defined]  # diffusers' __init__ shows type checkers its dummy class
    out_dir.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(out_dir, safe_serialization=True)  # type: ignore[attr-defined]  # as above
    return out_dir


def build_tiny_sdxl_pipeline(out_dir: Path | str, seed: int = 0) -> Path:
    """A tiny SDXL-style pipeline (about 1.5 M parameters; 8 px latents render a 64 px image)."""
    torch.manual_seed(seed)
    tokenizer, tokenizer_2 = build_tokenizer(), build_tokenizer()
    text_encoder = CLIPTextModel(_clip_config(tokenizer, **_TINY_TEXT_ENCODER))
    text_encoder_2 = CLIPTextModelWithProjection(_clip_config(tokenizer_2, **_TINY_TEXT_ENCODER))
    unet = _sdxl_unet(
        sample_size=8, widths=(32, 64), head_dims=(2, 4), transformer_layers=(1, 1),
        cross_attention_dim=64, time_embed_dim=8, pooled_dim=32,
    )  # fmt: skip
    vae = _sdxl_vae(sample_size=64, widths=(32, 64), layers_per_block=1)
    parts = dict(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
        tokenizer_2=tokenizer_2, unet=unet,
    )  # fmt: skip
    return _save(parts, Path(out_dir), torch.float32)


def full_size_sdxl_components() -> dict[str, object]:
    """The SDXL 1.0 base architecture's components (unet/config.json and the text encoders' configs of
    stabilityai/stable-diffusion-xl-base-1.0), randomly initialised on torch's current default device
    (`meta`: sizes only)."""
    tokenizer, tokenizer_2 = build_tokenizer(vocab_size=49408), build_tokenizer(vocab_size=49408)
    text_encoder = CLIPTextModel(  # OpenAI CLIP ViT-L/14's text tower
        _clip_config(
            tokenizer, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
            num_attention_heads=12, projection_dim=768, hidden_act="quick_gelu",
        )
    )  # fmt: skip
    text_encoder_2 = CLIPTextModelWithProjection(  # OpenCLIP ViT-bigG/14's text tower, with its projection
        _clip_config(
            tokenizer_2, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
            num_attention_heads=20, projection_dim=1280, hidden_act="gelu",
        )
    )  # fmt: skip
    unet = _sdxl_unet(
        sample_size=128, widths=(320, 640, 1280), head_dims=(5, 10, 20), transformer_layers=(1, 2, 10),
        cross_attention_dim=2048, time_embed_dim=256, pooled_dim=1280,
    )  # fmt: skip
    vae = _sdxl_vae(sample_size=1024, widths=(128, 256, 512, 512), layers_per_block=2)
    return dict(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
        tokenizer_2=tokenizer_2, unet=unet,
    )  # fmt: skip


def build_full_size_sdxl_pipeline(
    out_dir: Path | str, dtype: torch.dtype = torch.float16, seed: int = 0
) -> Path:
    """The SDXL 1.0 base architecture (`full_size_sdxl_components`) with random weights, saved in `dtype`
    (building it holds the fp32 weights: about 14 GB of memory)."""
    torch.manual_seed(seed)
    return _save(full_size_sdxl_components(), Path(out_dir), dtype)


def ensure_tiny_sdxl_pipeline(cache_dir: Path | str | None = None) -> Path:
    """Build the tiny SDXL pipeline once into a cache directory and return its path (`ensure_built`)."""
    return ensure_built(tiny_pipeline_dir(cache_dir, TINY_SDXL_PIPELINE_FOLDER), build_tiny_sdxl_pipeline)
