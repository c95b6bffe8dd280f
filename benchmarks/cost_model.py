"""The cost model behind `benchmarks/cost.md`: public prices, the inputs (measured figures where
`benchmarks/results/` has them, else stated assumptions), the two designs compared and a month's cost at
each scale. `benchmarks.cost` renders it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

HOURS_PER_MONTH = 730

# Public on-demand prices, us-east-1 (USD). Sources are printed in the document.
PRICES = {
    # SageMaker real-time/async inference instances: 1x A10G 24 GB; 4 vCPU/16 GiB and 8 vCPU/32 GiB.
    "ml.g5.xlarge_hour": 1.408,
    "ml.g5.2xlarge_hour": 1.515,
    "lambda_gb_second": 0.0000166667,  # x86
    "lambda_request": 0.20 / 1e6,
    "apigw_rest_request": 3.50 / 1e6,  # REST API, first 333 million/month
    "s3_gb_month": 0.023,  # S3 Standard, first 50 TB
    "s3_put": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
    "sns_publish": 0.50 / 1e6,
    "sqs_request": 0.40 / 1e6,
    # Content moderation (docs/moderation.md): Comprehend bills units of 100 characters (at least 3 per
    # request); Rekognition image moderation per image, first 1 million images a month.
    "comprehend_toxicity_unit": 0.0001,
    "rekognition_moderation_image": 0.001,
}
SOURCES = [
    (
        "Amazon SageMaker AI pricing (on-demand, real-time and asynchronous inference)",
        "https://aws.amazon.com/sagemaker/pricing/",
    ),
    ("AWS Lambda pricing", "https://aws.amazon.com/lambda/pricing/"),
    ("Amazon API Gateway pricing (REST APIs)", "https://aws.amazon.com/api-gateway/pricing/"),
    ("Amazon S3 pricing (S3 Standard)", "https://aws.amazon.com/s3/pricing/"),
    ("Amazon SNS pricing", "https://aws.amazon.com/sns/pricing/"),
    ("Amazon SQS pricing", "https://aws.amazon.com/sqs/pricing/"),
    ("Amazon Comprehend pricing (toxicity detection)", "https://aws.amazon.com/comprehend/pricing/"),
    ("Amazon Rekognition pricing (image moderation)", "https://aws.amazon.com/rekognition/pricing/"),
]

# The reference design's published figures (docs/design.md §3).
REFERENCE_TRAINING_SECONDS = 1500.0
REFERENCE_STEPS = 1000
REFERENCE_PIPELINE_GB = 2.6
SCALES = (100, 10_000, 1_000_000)


@dataclass
class Inputs:
    """Every quantity the model uses, each with where it came from."""

    values: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def set(self, key: str, value: float, source: str) -> None:
        self.values[key] = value
        self.sources[key] = source

    def set_measured(
        self, key: str, measured: float | None, source: str, assumed: float, assumption: str
    ) -> None:
        """`measured` (from `source`) where a results file holds it, else `assumed` for `assumption`."""
        if measured is None:
            self.set(key, assumed, assumption)
        else:
            self.set(key, measured, source)

    def __getitem__(self, key: str) -> float:
        return self.values[key]


def _figure(
    results: dict[str, Any], bench: str, case_prefix: str, metric_prefix: str
) -> dict[str, Any] | None:
    data = results.get(bench)
    if not data or data.get("toy"):
        return None
    for fig in data.get("figures", []):
        if fig["case"].startswith(case_prefix) and fig["metric"].startswith(metric_prefix):
            return fig
    return None


def _median(figure: dict[str, Any] | None, side: str = "ours") -> float | None:
    return figure[side]["median"] if figure else None


def _gpu_median(gpu: dict[str, Any] | None, metric_prefix: str, case_prefix: str = "") -> float | None:
    """Our median in the last figure of a GPU run (`_gpu`) whose metric and case start so, or None."""
    found = None
    for fig in gpu["figures"] if gpu else []:
        if fig["metric"].startswith(metric_prefix) and fig["case"].startswith(case_prefix):
            found = fig["ours"]["median"]
    return found


def _gpu(results: dict[str, Any]) -> dict[str, Any] | None:
    data = results.get("gpu")
    if data and not data.get("toy") and data.get("settings", {}).get("device", {}).get("device") == "cuda":
        return data
    return None


def gather_inputs(results: dict[str, Any]) -> Inputs:
    from avatar_contract.training import TrainingHyperparameters

    inputs = Inputs()
    steps = TrainingHyperparameters().max_train_steps
    inputs.set("our_steps", steps, "default `max_train_steps` (avatar_contract.training)")

    gpu = _gpu(results)
    gpu_projected = _gpu_median(gpu, "projected training time")
    loop = None
    for case in ("full-size 512px", "full-size 256px"):  # the tiny model says nothing about a GPU
        fig = _figure(results, "training", case, "train step")
        if fig and fig.get("ratio_reference_over_ours"):
            loop = (fig["ratio_reference_over_ours"]["median"], case)
            break
    if gpu is not None and gpu_projected is not None:
        inputs.set(
            "our_training_seconds",
            gpu_projected,
            f"measured: `make bench-gpu` on {gpu['settings']['device']['name']}",
        )
    else:
        ratio, where = loop if loop else (1.0, "assumed 1.0: no training ratio measured")
        inputs.set(
            "loop_speedup", ratio, f"measured on CPU: plain loop s/step ÷ service loop s/step, {where}"
        )
        inputs.set(
            "our_training_seconds",
            REFERENCE_TRAINING_SECONDS * steps / REFERENCE_STEPS / ratio,
            "estimate: reference 1500 s × (our steps / its 1000 steps) ÷ loop speed-up "
            "(no GPU measured here)",
        )

    inputs.set_measured(
        "generation_seconds",
        _gpu_median(gpu, "generation, active LoRA", "512px 30"),
        "measured: `make bench-gpu`, 30 steps 512 px, active LoRA",
        2.5,
        "assumption: 30 steps at 512 px on an A10G in fp16 (SD 2.1-base), with a LoRA; not measured here",
    )

    load = _figure(results, "triton_load", "full-size", "cold load")
    if not (load and load.get("reference")):
        load = None  # ours and the reference's are measured side by side: take both or neither
    inputs.set_measured(
        "ref_cold_load_seconds",
        _median(load, "reference"),
        "measured on CPU: full-size reference per-user model, POST /models",
        10.0,
        "assumption: whole fp16 pipeline from local disk to GPU",
    )
    inputs.set_measured(
        "our_model_load_seconds",
        _median(load),
        "measured on CPU: our per-user model, POST /models",
        1.0,
        "assumption: thin per-user model load",
    )
    inputs.set_measured(
        "adapter_cold_load_seconds",
        _median(_figure(results, "adapters", "full-size", "cold adapter load")),
        "measured on CPU: full-size adapter into the resident base",
        1.0,
        "assumption: LoRA adapter load into the resident base",
    )
    inputs.set_measured(
        "adapter_mib",
        _median(_figure(results, "adapters", "full-size", "adapter weights")),
        "measured: LoRA weights of one resident adapter (rank 32 UNet + 16 text encoder, fp16)",
        50.0,
        "assumption: rank 32/16 LoRA in fp16",
    )

    fits = _gpu_median(gpu, "adapters that fit")
    hosting_bound = 32
    inputs.set_measured(
        "our_resident_per_gpu",
        None if fits is None else min(fits, hosting_bound),
        "measured fit (`make bench-gpu`), capped by the cache bound",
        hosting_bound,
        "the base model's default cache bound (AVATAR_MAX_RESIDENT_ADAPTERS=32); memory would allow more",
    )
    inputs.set(
        "ref_resident_per_gpu",
        math.floor((24 - 3.0) / (REFERENCE_PIPELINE_GB + 0.4)),
        "(24 GB − 3 GB working memory) ÷ (2.6 GB pipeline + ~0.4 GB CUDA context per stub process)",
    )
    _moderation_inputs(inputs, results)
    inputs.set("generations_per_user_month", 20, "assumption: 20 avatars per user per month")
    inputs.set(
        "trainings_per_user_month", 1, "assumption: every user trains one model in the month (onboarding)"
    )
    inputs.set("utilization", 0.5, "assumption: hosting instances are kept at 50% busy (head-room for peaks)")
    inputs.set(
        "ref_artifact_factor", 4.0, "the reference's ranks 128/64 vs our 32/16: 4× the LoRA parameters"
    )
    return inputs


@dataclass
class Design:
    name: str
    training_seconds: float
    training_price_hour: float
    resident_per_gpu: float
    miss_seconds: float
    artifact_mib: float

    @property
    def training_cost(self) -> float:
        return self.training_seconds / 3600 * self.training_price_hour


def designs(inputs: Inputs) -> tuple[Design, Design]:
    ours = Design(
        "ours",
        inputs["our_training_seconds"],
        PRICES["ml.g5.2xlarge_hour"],
        inputs["our_resident_per_gpu"],
        inputs["our_model_load_seconds"] + inputs["adapter_cold_load_seconds"],
        inputs["adapter_mib"],
    )
    ref = Design(
        "reference",
        REFERENCE_TRAINING_SECONDS,
        PRICES["ml.g5.xlarge_hour"],
        inputs["ref_resident_per_gpu"],
        inputs["ref_cold_load_seconds"],
        inputs["adapter_mib"] * inputs["ref_artifact_factor"],
    )
    return ours, ref


def _moderation_inputs(inputs: Inputs, results: dict[str, Any]) -> None:
    inputs.set("prompt_chars", 120, "assumption: a typical prompt (Comprehend bills at least 300 characters)")
    inputs.set("images_per_generation", 1, "the API's default num_images")
    inputs.set(
        "moderation_seconds_aws",
        0.15 + 0.25,
        "assumption: DetectToxicContent ~0.15 s + DetectModerationLabels ~0.25 s per image in-region; "
        "not measured here (the local stand-in's figure is benchmarks/results/moderation.json)",
    )
    local = _figure(results, "moderation", "prompt + 1 image", "latency, median")
    if local:
        inputs.set(
            "moderation_seconds_local",
            local["ours"]["median"] / 1000,
            "measured: against the local stand-ins",
        )


def moderation_cost_per_generation(inputs: Inputs) -> float:
    """Comprehend for the prompt + Rekognition per image + the Lambda time the calls add."""
    units = max(3, math.ceil(inputs["prompt_chars"] / 100))
    return (
        units * PRICES["comprehend_toxicity_unit"]
        + inputs["images_per_generation"] * PRICES["rekognition_moderation_image"]
        + inputs["moderation_seconds_aws"] * 1.0 * PRICES["lambda_gb_second"]
    )


def api_cost_per_generation(inputs: Inputs) -> float:
    """API Gateway + the generations Lambda (1024 MB, waits for the endpoint) + moderation per request."""
    lambda_seconds = inputs["generation_seconds"] + 0.2
    return (
        PRICES["apigw_rest_request"]
        + PRICES["lambda_request"]
        + lambda_seconds * 1.0 * PRICES["lambda_gb_second"]
        + moderation_cost_per_generation(inputs)
    )


def month(design: Design, inputs: Inputs, users: int) -> dict[str, float]:
    gens = users * inputs["generations_per_user_month"]
    trains = users * inputs["trainings_per_user_month"]
    # Uniform traffic over `users` models: the share of requests whose model is not resident.
    instances = 1
    for _ in range(20):  # capacity grows with instances, so iterate to a fixed point
        miss = max(0.0, 1 - design.resident_per_gpu * instances / users)
        busy_seconds = gens * (inputs["generation_seconds"] + miss * design.miss_seconds)
        needed = max(1, math.ceil(busy_seconds / (HOURS_PER_MONTH * 3600 * inputs["utilization"])))
        if needed == instances:
            break
        instances = needed
    hosting = instances * HOURS_PER_MONTH * PRICES["ml.g5.xlarge_hour"]
    training = trains * design.training_cost
    api = gens * api_cost_per_generation(inputs) + trains * (
        PRICES["apigw_rest_request"] * 2 + PRICES["lambda_request"] + 2.0 * 2.0 * PRICES["lambda_gb_second"]
    )
    storage = users * design.artifact_mib / 1024 * PRICES["s3_gb_month"] + trains * 20 * PRICES["s3_put"]
    notify = trains * (PRICES["sns_publish"] + 3 * PRICES["sqs_request"])
    total = hosting + training + api + storage + notify
    return {
        "instances": instances,
        "miss": miss,
        "hosting": hosting,
        "training": training,
        "api": api,
        "storage": storage + notify,
        "total": total,
        "per_user": total / users,
        "per_1000_generations": 1000
        * (busy_seconds / gens)
        / 3600
        * PRICES["ml.g5.xlarge_hour"]
        / inputs["utilization"]
        + 1000 * api_cost_per_generation(inputs),
    }
