"""SDXL's text conditioning (diffusers' `train_dreambooth_lora_sdxl.py`, `encode_prompt` and
`compute_time_ids`): two CLIP text encoders (ViT-L, and ViT-bigG with its projection); the context is
both encoders' penultimate hidden states concatenated (768 + 1280 = 2048 wide), and the UNet's added
embedding takes the second encoder's pooled, projected output plus six micro-conditioning numbers per
image: original size, crop top-left, target size."""

from __future__ import annotations

import torch
from transformers import CLIPTextModel, CLIPTextModelWithProjection

from training_service.families.common import Encoded, TextConditioning


class SDXLConditioning(TextConditioning):
    ENCODER_CLASSES = (CLIPTextModel, CLIPTextModelWithProjection)

    def encode(self) -> Encoded:
        contexts, pooled = [], None
        for encoder, ids in zip(self.encoders.values(), self.input_ids, strict=True):
            out = encoder(ids, output_hidden_states=True)
            contexts.append(out.hidden_states[-2])  # SDXL conditions on the penultimate layer
            pooled = out[0]  # the last encoder's pooled, projected embedding (text_embeds)
        return Encoded(context=torch.cat(contexts, dim=-1), pooled=pooled)
