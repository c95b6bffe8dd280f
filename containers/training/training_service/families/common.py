"""The per-family text conditioning's shared part: loading the tokenizers and text encoders a family
names, tokenizing the training's fixed prompts once, LoRA on the encoders, and taking the encoders off
the device once their output is fixed (`training_service.families`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from peft import LoraConfig
from transformers import AutoTokenizer

from avatar_contract.lora import TEXT_ENCODER_TARGET_MODULES
from training_service.images import CropGeometry


@dataclass
class Encoded:
    """The UNet's text conditioning for each prompt: the cross-attention context, and for families whose
    UNet takes an added embedding, the pooled prompt embedding."""

    context: torch.Tensor
    pooled: torch.Tensor | None = None


class TextConditioning:
    """One family's tokenizers and text encoders (subclasses: `ENCODERS`, `encode`, `unet_kwargs`)."""

    ENCODERS: ClassVar[tuple[tuple[str, str, type], ...]]  # (tokenizer, text encoder, its model class)

    def __init__(
        self,
        pipeline_dir: Path | str,
        prompts: Sequence[str],
        device: str,
        dtype: torch.dtype,
        variant: str | None,
    ) -> None:
        self.device = device
        self.encoders: dict[str, Any] = {}
        self.input_ids: list[torch.Tensor] = []
        for tokenizer_name, encoder_name, model_class in self.ENCODERS:
            tokenizer = AutoTokenizer.from_pretrained(pipeline_dir, subfolder=tokenizer_name)
            encoder = model_class.from_pretrained(
                pipeline_dir, subfolder=encoder_name, dtype=dtype, variant=variant
            )
            encoder.requires_grad_(False)
            self.encoders[encoder_name] = encoder.to(device)
            ids = tokenizer(
                list(prompts), padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                return_tensors="pt",
            ).input_ids  # fmt: skip
            self.input_ids.append(ids.to(device))

    def add_lora(self, rank: int) -> tuple[dict[str, Any], LoraConfig]:
        """LoRA of `rank` on every text encoder's attention projections; the encoders, set to train."""
        config = LoraConfig(
            r=rank,
            lora_alpha=rank,
            init_lora_weights="gaussian",
            target_modules=list(TEXT_ENCODER_TARGET_MODULES),
        )
        for encoder in self.encoders.values():
            encoder.add_adapter(config)
            encoder.train()
        return self.encoders, config

    def enable_checkpointing(self) -> None:
        for encoder in self.encoders.values():
            encoder.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})

    def offload(self) -> None:
        """The encoders leave the device (their output is fixed: pre-computed once)."""
        for encoder in self.encoders.values():
            encoder.to("cpu")
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def encode(self) -> Encoded:
        """Every fixed prompt's conditioning, in prompt order (differentiable when the encoders train)."""
        raise NotImplementedError

    def unet_kwargs(
        self,
        encoded: Encoded,
        rows: Sequence[int],
        geometry: Sequence[CropGeometry],
        resolution: int,
        dtype: torch.dtype,
    ) -> dict[str, Any]:
        """The UNet's conditioning keywords for a batch whose prompts are `rows` of `encoded` and whose
        images came from `geometry`."""
        raise NotImplementedError


__all__ = ["CropGeometry", "Encoded", "TextConditioning"]
