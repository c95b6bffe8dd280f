"""SD 2.x's text conditioning: one CLIP text encoder (OpenCLIP ViT-H), its last hidden state as the
UNet's cross-attention context, nothing else (diffusers' `train_dreambooth_lora.py`)."""

from __future__ import annotations

from transformers import CLIPTextModel

from training_service.families.common import Encoded, TextConditioning


class SD2Conditioning(TextConditioning):
    ENCODER_CLASSES = (CLIPTextModel,)

    def encode(self) -> Encoded:
        [encoder] = self.encoders.values()
        return Encoded(context=encoder(self.input_ids[0])[0])
