"""What one run of each curated pack costs, per base model family (issue 25 item 8): the GPU time of its
images, finishing passes included, from their pixel-steps (`avatar_contract.generation.pixel_steps`, the
cost model the quotas use) and the family's measured or assumed generation time; plus the per-image AWS
calls of the background runner (SQS work item, runner Lambda waiting for the endpoint, moderation, S3,
events) and the client's polling. `benchmarks.cost` renders the table into `benchmarks/cost.md`.

Every base family of `avatar_contract.families` gets a row per curated pack: the pack's own variant for
that family (`<name>.<family>.json`) where there is one, else its default-family file rendered at the
family's native size (what POST /models/{id}/packs does on that deployment). A family's image time is the
measured SD 2.1 figure (`generation_seconds`, `make bench-gpu`) for SD 2.1 and the family's own
`time_budget.image_seconds` (an estimate until `make bench-gpu` runs on a GPU) for the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from benchmarks.common import markdown_section
from benchmarks.cost_model import PRICES, Inputs, moderation_cost_per_generation

# A pack job's own calls (docs/packs.md): per image one SQS work item (send, receive, delete), one
# runner invocation waiting for the endpoint, one S3 PUT and the client's GET of it, per-image and
# completion events on SNS, and the client polling GET /models/{id}/packs/{job} every 5 s.
SQS_REQUESTS_PER_IMAGE = 3
RUNNER_MEMORY_GB = 1.0
RUNNER_OVERHEAD_SECONDS = 0.3  # the runner's own work per image besides waiting (S3 PUT, moderation call)
POLL_SECONDS = 5.0
REFERENCE_STEPS = 30  # what `generation_seconds` is measured at (bench-gpu: 30 steps at the native size)


@dataclass(frozen=True)
class Family:
    """A base family (`avatar_contract.families`) as the cost model sees it."""

    name: str  # base_models/<name>.json, a pack's `family`
    native_size: int  # the size a pack image is rendered at when its gen_args name none
    instance_price: str  # PRICES key of the hosting instance
    image_seconds: float | None  # one image at the native size, REFERENCE_STEPS steps (None: measured input)

    def generation_seconds(self, inputs: Inputs) -> float:
        return inputs["generation_seconds"] if self.image_seconds is None else self.image_seconds


def _families() -> tuple[Family, ...]:
    from avatar_contract.families import DEFAULT_FAMILY, FAMILIES

    return tuple(
        Family(
            str(f.name),
            f.native_resolution,
            f"{f.hosting_instance_type}_hour",
            None if f.name == DEFAULT_FAMILY else f.time_budget.image_seconds,
        )
        for f in FAMILIES.values()
    )


FAMILIES: tuple[Family, ...] = _families()


@dataclass
class PackCost:
    family: str
    pack: str
    images: int
    gpu_seconds: float
    hosting: float  # USD: the GPU seconds at the instance price, over the utilization target
    per_image_calls: float  # USD: SQS, runner Lambda, moderation, S3, events, polling for the whole pack

    @property
    def total(self) -> float:
        return self.hosting + self.per_image_calls

    @property
    def per_image(self) -> float:
        return self.total / self.images


def seconds_per_pixel_step(family: Family, inputs: Inputs) -> float:
    return family.generation_seconds(inputs) / (family.native_size**2 * REFERENCE_STEPS)


def pack_gpu_seconds(pack: Any, family: Family, inputs: Inputs) -> float:
    """Every image of `pack` (an `avatar_contract.packs.Pack`) with its finishing passes, in GPU seconds."""
    from avatar_contract.generation import pixel_steps

    total = sum(prompt.images * pixel_steps(prompt.gen_args, family.native_size) for prompt in pack.prompts)
    return total * seconds_per_pixel_step(family, inputs)


def pack_cost(pack: Any, family: Family, inputs: Inputs) -> PackCost:
    gpu = pack_gpu_seconds(pack, family, inputs)
    images = pack.images
    hosting = gpu / 3600 * PRICES[family.instance_price] / inputs["utilization"]
    per_image_gpu = gpu / images
    runner = (per_image_gpu + RUNNER_OVERHEAD_SECONDS) * RUNNER_MEMORY_GB * PRICES["lambda_gb_second"]
    per_image = (
        SQS_REQUESTS_PER_IMAGE * PRICES["sqs_request"]
        + PRICES["lambda_request"]
        + runner
        + PRICES["rekognition_moderation_image"]
        + PRICES["s3_put"]
        + PRICES["s3_get"]
        + PRICES["sns_publish"]
    )
    # the client polls while the images render one after another (a lower bound: runners work in parallel)
    polls = math.ceil(gpu / POLL_SECONDS) + 1
    requests = 1 + polls  # POST + GETs, each through API Gateway and the reads function
    per_job = requests * (PRICES["apigw_rest_request"] + PRICES["lambda_request"]) + PRICES["sns_publish"]
    per_job += moderation_cost_per_generation(inputs) - PRICES["rekognition_moderation_image"]  # prompts
    return PackCost(family.name, pack.name, images, gpu, hosting, images * per_image + per_job)


def pack_costs(inputs: Inputs) -> list[PackCost]:
    """One row per (family, curated pack): the pack's variant for the family, else its default one."""
    from avatar_contract.packs import curated_packs, pack_for_family

    packs = curated_packs()
    rows = []
    for family in FAMILIES:
        for name in dict.fromkeys(pack.name for pack in packs):
            rows.append(pack_cost(pack_for_family(packs, name, family.name), family, inputs))
    return rows


def render_section(inputs: Inputs) -> list[str]:
    """The `## Avatar packs` section of cost.md."""
    text = (
        "One run of each curated pack (`avatar_contract/pack_data/`): GPU time from the images' "
        "pixel-steps (`avatar_contract.generation.pixel_steps`, finishing passes included; face_detail "
        "counted at its `max_faces` bound) × the family's seconds per pixel-step (its generation time ÷ "
        f"(native size² × {REFERENCE_STEPS} steps)), at the hosting price over the utilization target; "
        "plus per image an SQS work item, the runner Lambda waiting for the endpoint, Rekognition "
        "moderation, an S3 PUT and GET and an SNS event, and per job the POST, the client's polls every "
        f"{POLL_SECONDS:.0f} s and the prompt moderation (`benchmarks/pack_cost.py`)."
    )
    header = ["family", "pack", "images", "GPU seconds", "hosting", "AWS calls", "total", "per image"]
    rows = [
        [
            row.family,
            row.pack,
            str(row.images),
            f"{row.gpu_seconds:.1f}",
            f"${row.hosting:.4f}",
            f"${row.per_image_calls:.4f}",
            f"${row.total:.4f}",
            f"${row.per_image:.5f}",
        ]
        for row in pack_costs(inputs)
    ]
    lines = markdown_section("Avatar packs, per base family", text, [header, *rows])
    estimated = [f for f in FAMILIES if f.image_seconds is not None]
    if estimated:
        lines += [
            "",
            "Image time per family: "
            + "; ".join(
                f"{f.name} {f.image_seconds:g} s per {REFERENCE_STEPS}-step {f.native_size} px image on the "
                f"hosting GPU (the family's estimate, `avatar_contract.families`: not measured)"
                for f in estimated
            )
            + "; sd21-base: `generation_seconds` below.",
        ]
    lines.append("")
    return lines
