"""The cost model per base family (issue 24 item 7): for each family of `avatar_contract.families` at its
defaults, the training estimate and its cost on its training instance, the time of one image, how many
per-user adapters one 24 GB GPU keeps resident, and the cost per model and per 1000 images, each input
marked as measured, computed or estimated. `benchmarks.cost` renders the table into `benchmarks/cost.md`.

The training estimate is the service's own cost model (`avatar_contract.training_budget.estimate`, the one
the API refuses over-budget trainings with), at the family's defaults on its default training instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import markdown_section
from benchmarks.cost_model import PRICES, Inputs, api_cost_per_generation

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
GPU_GIB = 24.0  # A10G (ml.g5.*)
# LoRA weights of one resident default adapter (fp16): parameter counts of `python -m benchmarks --only
# families` (computed on torch's meta device: exact) × 2 bytes.
ADAPTER_MIB = {"sd21-base": 18.4, "sdxl-base-1.0": 88.6}
# Activations and CUDA context beside the weights while rendering one batch at the native size: an
# estimate (diffusers' SD 2.1 at 512 px and SDXL at 1024 px in fp16 with VAE slicing), not measured here.
WORKING_GIB = {"sd21-base": 3.0, "sdxl-base-1.0": 6.0}
CACHE_BOUND = 32  # AVATAR_MAX_RESIDENT_ADAPTERS' default (hosting_server.settings)


@dataclass(frozen=True)
class FamilyCost:
    family: str
    training_instance: str
    training_seconds: float
    training_cost: float
    image_seconds: float
    image_source: str
    base_gib: float
    resident_by_memory: int
    hosting_instance: str
    per_1000_images: float

    @property
    def resident(self) -> int:
        return min(CACHE_BOUND, self.resident_by_memory)


def staged_gib(manifest: str) -> float:
    """The base model's weights as staged (the manifest's byte count)."""
    from avatar_runtime.base_model import Manifest

    return sum(int(entry.size or 0) for entry in Manifest.load(REPOSITORY_ROOT / manifest).files) / 2**30


def family_costs(inputs: Inputs) -> list[FamilyCost]:
    from avatar_contract.families import DEFAULT_FAMILY, FAMILIES
    from avatar_contract.training import hyperparameters_model
    from avatar_contract.training_budget import estimate
    from avatar_runtime.rendering import DEFAULT_STEPS

    rows = []
    for family in FAMILIES.values():
        name = str(family.name)
        defaults = hyperparameters_model(family.name)()
        # at the service's denoising steps for class images and previews (what the API's bound uses)
        training = estimate(defaults, family.training_instance_type, DEFAULT_STEPS, base_family=name).total
        measured = name == DEFAULT_FAMILY
        image = inputs["generation_seconds"] if measured else family.time_budget.image_seconds
        base = staged_gib(family.manifest_path)
        free_mib = (GPU_GIB - base - WORKING_GIB[name]) * 1024
        price = PRICES[f"{family.hosting_instance_type}_hour"]
        per_1000 = 1000 * (image / 3600 * price / inputs["utilization"] + api_cost_per_generation(inputs))
        rows.append(
            FamilyCost(
                family=name,
                training_instance=family.training_instance_type,
                training_seconds=training,
                training_cost=training / 3600 * PRICES[f"{family.training_instance_type}_hour"],
                image_seconds=image,
                image_source=inputs.sources["generation_seconds"].split(":")[0] if measured else "estimate",
                base_gib=base,
                resident_by_memory=int(free_mib // ADAPTER_MIB[name]),
                hosting_instance=family.hosting_instance_type,
                per_1000_images=per_1000,
            )
        )
    return rows


def render_section(inputs: Inputs) -> list[str]:
    """The `## Per base family` section of cost.md."""
    text = (
        "Each family at its defaults (`avatar_contract.families`, cdk.json `baseModel`). Training: the "
        "service's cost model (`avatar_contract.training_budget.estimate`: its A10G constants are "
        "estimates, no GPU measured) on the family's training instance. Image: one 30-step image at the "
        "native size on the hosting GPU. Resident adapters: (24 GB − the staged base weights − working "
        f"memory ({', '.join(f'{k} {v:g} GiB' for k, v in WORKING_GIB.items())}, estimates)) ÷ one "
        "default adapter in fp16 (computed), capped by the adapter cache's bound "
        f"({CACHE_BOUND}). Per 1000 images: the GPU time at the hosting price over the utilization target "
        "plus API Gateway, Lambda and moderation per request (`benchmarks/family_cost.py`)."
    )
    header = [
        "family", "training (defaults)", "per model", "one image", "base weights",
        "adapters resident per 24 GB GPU", "per 1000 images (hosting instance)",
    ]  # fmt: skip
    rows = [
        [
            row.family,
            f"{row.training_seconds:,.0f} s on {row.training_instance} (estimate)",
            f"${row.training_cost:.2f}",
            f"{row.image_seconds:g} s ({row.image_source})",
            f"{row.base_gib:.1f} GiB (manifest)",
            f"{row.resident} (memory allows {row.resident_by_memory})",
            f"${row.per_1000_images:.2f} ({row.hosting_instance})",
        ]
        for row in family_costs(inputs)
    ]
    return [*markdown_section("Per base family", text, [header, *rows]), ""]
