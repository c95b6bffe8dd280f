"""Which modules the LoRA adapters wrap: the UNet's and the CLIP text encoder's attention projections.

The training loop, the random test/benchmark adapters and the reference loop all use these lists, so an
adapter from any of them loads into the hosting engine in the same layout (diffusers' DreamBooth-LoRA
targets). No dependencies.
"""

from __future__ import annotations

from typing import Final

UNET_TARGET_MODULES: Final[tuple[str, ...]] = ("to_k", "to_q", "to_v", "to_out.0")
TEXT_ENCODER_TARGET_MODULES: Final[tuple[str, ...]] = ("q_proj", "k_proj", "v_proj", "out_proj")
