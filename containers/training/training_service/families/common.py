"""The per-family text conditioning's shared part: loading the tokenizers and text encoders a family
names (`avatar_contract.families`), tokenizing the training's fixed prompts once, LoRA on the encoders
(the family's target modules), the UNet's conditioning keywords (with SDXL's micro-conditioning where
the family has it), and taking the encoders off the device once their output is fixed
(`training_service.families`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from peft import LoraConfig
from transformers import AutoTokenizer

from avatar_contract.families import BaseFamily
from training_service.images import CropGeometry


@dataclass
class Encoded:
    """The UNet's text conditioning for each prompt: the cross-attention context, and for families whose
    UNet takes an added embedding, the pooled prompt embedding."""

    context: torch.Tensor
    pooled: torch.Tensor | None = None


def time_ids(geometry: CropGeometry, resolution: int) -> list[int]:
    """The micro-conditioning of one training square: (original h, w, crop top, left, target h, w)."""
    return [*geometry.original_size, *geometry.crop_top_left, resolution, resolution]


class TextConditioning:
    """One family's tokenizers and text encoders (subclasses: `ENCODER_CLASSES`, `encode`)."""

    ENCODER_CLASSES: ClassVar[tuple[Any, ...]]  # the transformers class of each of the family's encoders

    def __init__(
        self,
        family: BaseFamily,
        pipeline_dir: Path | str,
        prompts: Sequence[str],
        device: str,
        dtype: torch.dtype,
        variant: str | None,
    ) -> None:
        self.family = family
        self.device = device
        self.encoders: dict[str, Any] = {}  # text encoder subfolder -> model, in the pipeline's order
        self.input_ids: list[torch.Tensor] = []
        parts = zip(family.tokenizers, family.text_encoders, self.ENCODER_CLASSES, strict=True)
        for tokenizer_name, encoder_name, model_class in parts:
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

    def add_lora(self, rank: int) -> dict[str, LoraConfig]:
        """LoRA of `rank` on every text encoder's target modules (the family's); the encoders, set to
        train. Returns each encoder's LoRA configuration by subfolder."""
        configs = {}
        for name, encoder in self.encoders.items():
            configs[name] = LoraConfig(
                r=rank,
                lora_alpha=rank,
                init_lora_weights="gaussian",
                target_modules=list(self.family.text_encoder_lora_targets[name]),
            )
            encoder.add_adapter(configs[name])
            encoder.train()
        return configs

    def enable_checkpointing(self) -> None:
        for encoder in self.encoders.values():
            encoder.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})

    def release(self) -> None:
        """The encoders leave the device and memory (their output is fixed: pre-computed once)."""
        for encoder in self.encoders.values():
            encoder.to("cpu")
        self.encoders.clear()
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
        images came from `geometry`: the cross-attention context, and for a family with micro-conditioning
        (SDXL) the added embedding, the pooled prompt embedding plus each image's `time_ids`."""
        picked = list(rows)
        kwargs: dict[str, Any] = {"encoder_hidden_states": encoded.context[picked].to(dtype)}
        if self.family.micro_conditioning:
            assert encoded.pooled is not None  # encode() sets it for a family with an added embedding
            ids = torch.tensor([time_ids(g, resolution) for g in geometry], device=encoded.context.device)
            kwargs["added_cond_kwargs"] = {
                "text_embeds": encoded.pooled[picked].to(dtype),
                "time_ids": ids.to(dtype),
            }
        return kwargs


__all__ = ["CropGeometry", "Encoded", "TextConditioning"]
