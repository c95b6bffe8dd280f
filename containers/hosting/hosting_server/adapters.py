"""Random LoRA adapters in the training service's format, for tests and benchmarks.

The adapter targets the same modules as the DreamBooth-LoRA training (`avatar_contract.lora`: the UNet's
and every text encoder's attention projections) and is saved with the base pipeline's own
`save_lora_weights` (SD 2.x or SDXL), so it is indistinguishable, format-wise, from a trained
`pytorch_lora_weights.safetensors`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from avatar_contract.lora import TEXT_ENCODER_TARGET_MODULES, UNET_TARGET_MODULES
from avatar_runtime.base_model import weights_variant


def make_random_adapter(
    base_model_dir: Path | str,
    out_dir: Path | str,
    seed: int,
    unet_rank: int = 4,
    text_encoder_rank: int = 4,
    scale: float = 0.5,
    dtype: Any = None,
    pipe: Any = None,
) -> Path:
    """Write `<out_dir>/pytorch_lora_weights.safetensors` with random non-zero LoRA weights (UNet and
    every text encoder) for the pipeline in `base_model_dir`; returns the file. Pass `pipe` (that pipeline,
    loaded) to make several adapters without loading it each time."""
    import torch
    from peft import LoraConfig, get_peft_model_state_dict

    from avatar_contract.names import Triton
    from avatar_runtime.rendering import pipeline_class

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cls = pipeline_class(base_model_dir)
    if pipe is None:
        pipe = cls.from_pretrained(str(base_model_dir), variant=weights_variant(base_model_dir))
    generator = torch.Generator().manual_seed(seed)
    adapter_name = f"random{seed}"
    unet_config = LoraConfig(r=unet_rank, lora_alpha=unet_rank, target_modules=list(UNET_TARGET_MODULES))
    text_config = LoraConfig(
        r=text_encoder_rank, lora_alpha=text_encoder_rank, target_modules=list(TEXT_ENCODER_TARGET_MODULES)
    )
    encoders = {n: c for n, c in pipe.components.items() if n.startswith("text_encoder") and c is not None}
    pipe.unet.add_adapter(unet_config, adapter_name=adapter_name)
    for encoder in encoders.values():
        encoder.add_adapter(text_config, adapter_name=adapter_name)
    with torch.no_grad():
        for module in (pipe.unet, *encoders.values()):
            for name, param in module.named_parameters():
                if f".{adapter_name}." in name:  # peft zero-initializes lora_B: make both non-zero
                    param.copy_(torch.randn(param.shape, generator=generator) * scale)
    layers = {
        f"{name}_lora_layers": {
            k: v.to(dtype) if dtype is not None else v
            for k, v in get_peft_model_state_dict(module, adapter_name=adapter_name).items()
        }
        for name, module in (("unet", pipe.unet), *encoders.items())
    }
    cls.save_lora_weights(out_dir, weight_name=Triton.ADAPTER_FILE, safe_serialization=True, **layers)
    return out_dir / Triton.ADAPTER_FILE


def adapter_metadata(
    model_id: str,
    token: str = "sks",
    unet_rank: int = 4,
    text_encoder_rank: int = 4,
    base_model_id: str = "random-sd",
    training_id: str = "t-00000000000000000000",
    base_family: str | None = None,
) -> dict[str, Any]:
    """The metadata the training service writes next to the adapter (`metadata.json`); `base_family`
    None leaves the family out (a model from before families: sd21-base)."""
    family = {} if base_family is None else {"base_family": base_family}
    return family | {
        "model_id": model_id,
        "training_id": training_id,
        "token": token,
        "class_prompt": "a photo of person",
        "base_model_id": base_model_id,
        "lora_rank": unet_rank,
        "text_encoder_lora_rank": text_encoder_rank,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_metadata(adapter_file: Path, metadata: dict[str, Any]) -> Path:
    from avatar_contract.names import Triton

    path = Path(adapter_file).with_name(Triton.METADATA_FILE)
    path.write_text(json.dumps(metadata, indent=2, sort_keys=True))
    return path
