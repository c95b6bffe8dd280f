"""What the training loop does differently per base-model family, behind one interface.

The loop (`training_service.trainer`) is generic: frozen VAE latents, noise, the UNet's prediction, the
loss, LoRA on the UNet. What a family decides is its text conditioning: which tokenizers and text encoders
it has, how a prompt becomes the UNet's context (SD 2.x: the one encoder's last hidden state; SDXL: two
encoders' penultimate states concatenated, plus the second's pooled projection and the micro-conditioning
time ids), and which components carry text-encoder LoRA. `conditioning_for` picks the family's
`TextConditioning` from the pipeline folder's own class (`model_index.json`), so a base model can never be
trained as another family.
"""

from __future__ import annotations

from pathlib import Path

from avatar_runtime.rendering import pipeline_class
from training_service.families.common import Encoded, TextConditioning
from training_service.families.sd21 import SD2Conditioning
from training_service.families.sdxl import SDXLConditioning
from training_service.images import CropGeometry

# The diffusers text-to-image class of each family's pipeline → its training conditioning.
CONDITIONING: dict[str, type[TextConditioning]] = {
    "StableDiffusionPipeline": SD2Conditioning,
    "StableDiffusionXLPipeline": SDXLConditioning,
}


def conditioning_for(pipeline_dir: Path | str) -> type[TextConditioning]:
    """The conditioning class for the pipeline in `pipeline_dir`; ValueError for a class no family has."""
    name = pipeline_class(pipeline_dir).__name__
    try:
        return CONDITIONING[name]
    except KeyError:
        raise ValueError(f"no base-model family trains a {name}") from None


__all__ = ["CONDITIONING", "CropGeometry", "Encoded", "TextConditioning", "conditioning_for"]
