"""SDXL's text conditioning (diffusers' `train_dreambooth_lora_sdxl.py`, `encode_prompt` and
`compute_time_ids`): two CLIP text encoders (ViT-L, and ViT-bigG with its projection); the context is
both encoders' penultimate hidden states concatenated (768 + 1280 = 2048 wide), and the UNet's added
embedding takes the second encoder's pooled, projected output plus six micro-conditioning numbers per
image: original size, crop top-left, target size."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import CLIPTextModel, CLIPTextModelWithProjection

from training_service.families.common import Encoded, TextConditioning
from training_service.images import CropGeometry


def time_ids(geometry: CropGeometry, resolution: int) -> list[int]:
    """The micro-conditioning of one training square: (original h, w, crop top, left, target h, w)."""
    return [*geometry.original_size, *geometry.crop_top_left, resolution, resolution]


class SDXLConditioning(TextConditioning):
    ENCODER_CLASSES = (CLIPTextModel, CLIPTextModelWithProjection)

    def encode(self) -> Encoded:
        contexts, pooled = [], None
        for encoder, ids in zip(self.encoders.values(), self.input_ids, strict=True):
            out = encoder(ids, output_hidden_states=True)
            contexts.append(out.hidden_states[-2])  # SDXL conditions on the penultimate layer
            pooled = out[0]  # the last encoder's pooled, projected embedding (text_embeds)
        return Encoded(context=torch.cat(contexts, dim=-1), pooled=pooled)

    def unet_kwargs(
        self,
        encoded: Encoded,
        rows: Sequence[int],
        geometry: Sequence[CropGeometry],
        resolution: int,
        dtype: torch.dtype,
    ) -> dict[str, Any]:
        assert encoded.pooled is not None  # encode() always sets it
        ids = torch.tensor([time_ids(g, resolution) for g in geometry], device=encoded.context.device)
        return {
            "encoder_hidden_states": encoded.context[list(rows)].to(dtype),
            "added_cond_kwargs": {
                "text_embeds": encoded.pooled[list(rows)].to(dtype),
                "time_ids": ids.to(dtype),
            },
        }
