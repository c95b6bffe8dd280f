"""Cost bounds a request must stay under to finish within its platform limit (docs/limits.md).

* A training must be estimated to finish within the async endpoint's invocation timeout minus a margin on
  the configured training instance type. The estimate is `avatar_contract.training_budget`'s cost model
  (the one model the API and the training container share).
* A generation's cost (images x pixels x steps) must fit the generations function's time budget on the
  configured hosting instance type, and its worst-case response must fit SageMaker's 6 MB response limit.
  Its sizes must be within the deployed base family's bounds (`avatar_contract.families`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from avatar_api.errors import InvalidRequest
from avatar_api.settings import (
    GENERATION_BUDGET_SECONDS,
    GENERATION_OVERHEAD_SECONDS,
    MAX_ENDPOINT_RESPONSE_BYTES,
    TRAINING_BUDGET_SECONDS,
)
from avatar_contract.families import DEFAULT_FAMILY, FamilyName, family
from avatar_contract.generation import GenArgs, family_bounds_problem, output_size, pixel_steps
from avatar_contract.training import TrainingHyperparameters
from avatar_contract.training_budget import estimate

log = logging.getLogger(__name__)

# Denoising throughput of the hosting instance's GPU for the default family (sd21-base, fp16,
# classifier-free guidance) in pixel-steps per second: one 512x512 image at one step is 262,144
# pixel-steps; another family scales it by its `generation.relative_throughput`. Estimates from public
# figures until `make bench-gpu` measures them (docs/limits.md), rounded down.
PIXEL_STEPS_PER_SECOND = {
    "ml.g4dn.xlarge": 1.0e6,  # T4
    "ml.g4dn.2xlarge": 1.0e6,
    "ml.g5.xlarge": 2.5e6,  # A10G
    "ml.g5.2xlarge": 2.5e6,
    "ml.g5.4xlarge": 2.5e6,
    "ml.g6.xlarge": 2.0e6,  # L4
    "ml.g6.2xlarge": 2.0e6,
    "ml.g6e.xlarge": 4.0e6,  # L40S
    "ml.p3.2xlarge": 2.5e6,  # V100
}
# An instance type not in the table gets the slowest figure (a bound that is too strict, never too loose).
FALLBACK_PIXEL_STEPS_PER_SECOND = min(PIXEL_STEPS_PER_SECOND.values())
# Worst case of the encoded images in the endpoint's JSON answer, bytes per pixel after base64: PNG never
# exceeds raw RGB (3 B/px) by more than its few header bytes; x4/3 for base64. JPEG answers are re-encoded
# by the engine until they fit, so only PNG needs the bound here.
PNG_RESPONSE_BYTES_PER_PIXEL = 4


def generation_cost(args: GenArgs, native_size: int) -> int:
    """Pixel-steps of a request: images x width x height x steps, plus its finishing passes
    (`avatar_contract.generation.pixel_steps`, the one cost model)."""
    return pixel_steps(args, native_size)


def native_size(base_family: FamilyName | str = DEFAULT_FAMILY) -> int:
    """The side a generation renders at when neither the request nor the model's record names one (the
    family's native resolution; domain.generations sends it explicitly)."""
    return family(base_family).native_resolution


def throughput(instance_type: str, base_family: FamilyName | str = DEFAULT_FAMILY) -> float:
    """Pixel-steps per second of the family on `instance_type` (the slowest known figure for an unknown
    type)."""
    figure = PIXEL_STEPS_PER_SECOND.get(instance_type)
    if figure is None:
        log.warning("no throughput figure for %s; using the slowest known", instance_type)
        figure = FALLBACK_PIXEL_STEPS_PER_SECOND
    return figure * family(base_family).generation.relative_throughput


def max_generation_cost(instance_type: str, base_family: FamilyName | str = DEFAULT_FAMILY) -> int:
    """The largest cost that finishes within the generation budget on `instance_type`."""
    seconds = GENERATION_BUDGET_SECONDS - GENERATION_OVERHEAD_SECONDS
    return int(throughput(instance_type, base_family) * seconds)


def owner_cost(
    args: GenArgs,
    instance_type: str,
    gpu_seconds_per_minute: float,
    base_family: FamilyName | str = DEFAULT_FAMILY,
) -> tuple[int, int | None]:
    """The request's cost and the owner's quota of pixel-steps per minute: `gpu_seconds_per_minute` of the
    instance's throughput, the cost model of `max_generation_cost` (None: no instance type configured, no
    cost quota). InvalidRequest (400) for a request that alone exceeds the quota (waiting cannot help)."""
    cost = generation_cost(args, native_size(base_family))
    if not instance_type:
        return cost, None
    quota = int(throughput(instance_type, base_family) * gpu_seconds_per_minute)
    if cost > quota:
        raise InvalidRequest(
            f"num_images x width x height x num_inference_steps is {cost:,}; an owner may use at most "
            f"{quota:,} per minute on {instance_type} ({gpu_seconds_per_minute:g} GPU-seconds): "
            "fewer images, steps or pixels"
        )
    return cost, quota


def check_generation(
    args: GenArgs, instance_type: str, base_family: FamilyName | str = DEFAULT_FAMILY
) -> None:
    """InvalidRequest (400, naming the limit) for a request that cannot finish or cannot be answered, or
    whose sizes are outside the base family's bounds (absent sizes: the family's native size)."""
    problem = family_bounds_problem(args, base_family)
    if problem:
        raise InvalidRequest(f"gen_args.{problem}")
    native = native_size(base_family)
    cost = generation_cost(args, native)
    if instance_type:
        limit = max_generation_cost(instance_type, base_family)
        if cost > limit:
            raise InvalidRequest(
                f"num_images x width x height x num_inference_steps is {cost:,}; the limit on "
                f"{instance_type} is {limit:,} (what renders within {GENERATION_BUDGET_SECONDS:.0f} s): "
                "fewer images, steps, pixels or finishing passes"
            )
    if args.output_format == "png":
        width, height = output_size(args, native)  # after a hires pass
        size = args.num_images * width * height * PNG_RESPONSE_BYTES_PER_PIXEL
        if size > MAX_ENDPOINT_RESPONSE_BYTES:
            raise InvalidRequest(
                f"output_format png: {args.num_images} image(s) of {width}x{height} can reach {size:,} "
                f"bytes; the endpoint's response limit is {MAX_ENDPOINT_RESPONSE_BYTES:,} bytes: "
                "use output_format jpeg or fewer/smaller images"
            )


def _contract_estimator(base_family: FamilyName | str = DEFAULT_FAMILY) -> Callable[[Any, str], float]:
    """The contract's cost model (avatar_contract.training_budget) for the family, shared with the
    training container."""

    def seconds(hyperparameters: Any, instance_type: str) -> float:
        return estimate(hyperparameters, instance_type, base_family=base_family).total

    return seconds


# Tests replace it; in production it is the contract's cost model.
estimator: Callable[..., Callable[[Any, str], float]] = _contract_estimator


def check_training(
    hyperparameters: TrainingHyperparameters,
    instance_type: str,
    base_family: FamilyName | str = DEFAULT_FAMILY,
) -> float | None:
    """The estimated seconds of this training of the family on `instance_type`; InvalidRequest (400, with
    the estimate) when they exceed the budget. None when no instance type is configured."""
    if not instance_type:
        return None
    seconds = float(estimator(base_family)(hyperparameters, instance_type))
    if seconds > TRAINING_BUDGET_SECONDS:
        raise InvalidRequest(
            f"config: this training is estimated at {seconds:,.0f} s on {instance_type}; the limit is "
            f"{TRAINING_BUDGET_SECONDS} s (fewer max_train_steps, num_class_images or a lower resolution)"
        )
    return seconds
