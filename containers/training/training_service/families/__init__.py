"""What the training loop does differently per base-model family, behind one interface.

The loop (`training_service.trainer`) is generic: frozen VAE latents, noise, the UNet's prediction, the
loss, LoRA on the UNet. What a family decides is its text conditioning: which tokenizers and text encoders
it has, how a prompt becomes the UNet's context (SD 2.x: the one encoder's last hidden state; SDXL: two
encoders' penultimate states concatenated, plus the second's pooled projection and the micro-conditioning
time ids), and which components carry text-encoder LoRA. `conditioning_for` picks the family's
`TextConditioning` from the pipeline folder's own class (`model_index.json`) matched against the
families' definitions (`avatar_contract.families`), so a base model can never be trained as another
family.
"""

from __future__ import annotations

from pathlib import Path

from avatar_contract.families import BaseFamily, FamilyName
from avatar_runtime.rendering import pipeline_family
from training_service.families.common import Encoded, TextConditioning
from training_service.families.sd21 import SD2Conditioning
from training_service.families.sdxl import SDXLConditioning
from training_service.images import CropGeometry

# Each family's training conditioning (its definition: avatar_contract.families).
CONDITIONING: dict[FamilyName, type[TextConditioning]] = {
    FamilyName.SD21_BASE: SD2Conditioning,
    FamilyName.SDXL_BASE_1_0: SDXLConditioning,
}


def family_of_pipeline(pipeline_dir: Path | str) -> BaseFamily:
    """The family whose text-to-image pipeline class the folder names (`model_index.json`); ValueError
    for a class no family has."""
    chosen: BaseFamily = pipeline_family(pipeline_dir)
    return chosen


def conditioning_for(pipeline_dir: Path | str) -> tuple[BaseFamily, type[TextConditioning]]:
    """The family of the pipeline in `pipeline_dir` and its conditioning class."""
    family = family_of_pipeline(pipeline_dir)
    return family, CONDITIONING[family.name]


__all__ = [
    "CONDITIONING",
    "CropGeometry",
    "Encoded",
    "TextConditioning",
    "conditioning_for",
    "family_of_pipeline",
]
