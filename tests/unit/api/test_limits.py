"""The cost bounds' arithmetic (domain.limits) and what the handlers let X-Ray record."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from pydantic import ValidationError

from avatar_api import handlers
from avatar_api.domain import limits
from avatar_api.errors import InvalidRequest
from avatar_api.settings import (
    GENERATION_BUDGET_SECONDS,
    GENERATION_OVERHEAD_SECONDS,
    TRAINING_BUDGET_SECONDS,
)
from avatar_contract.generation import GenArgs
from avatar_contract.names import Runtime
from avatar_contract.training import TrainingHyperparameters


def test_generation_cost_is_images_times_pixels_times_steps() -> None:
    assert limits.generation_cost(GenArgs(), native_size=512) == 512 * 512 * 25  # rendering.DEFAULT_STEPS
    args = GenArgs(num_images=3, width=640, height=512, num_inference_steps=20)
    assert limits.generation_cost(args, native_size=64) == 3 * 640 * 512 * 20


def test_the_bound_is_the_instances_throughput_over_the_rendering_budget() -> None:
    seconds = GENERATION_BUDGET_SECONDS - GENERATION_OVERHEAD_SECONDS
    assert limits.max_generation_cost("ml.g5.xlarge") == int(2.5e6 * seconds)
    # Unknown instance types get the slowest figure: too strict, never too loose.
    assert limits.max_generation_cost("ml.unknown.xlarge") == int(
        limits.FALLBACK_PIXEL_STEPS_PER_SECOND * seconds
    )
    assert min(limits.PIXEL_STEPS_PER_SECOND.values()) == limits.FALLBACK_PIXEL_STEPS_PER_SECOND


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (GenArgs(output_format="png"), True),  # the default request: 7.9 M pixel-steps
        (GenArgs(num_images=4, num_inference_steps=30, output_format="jpeg"), True),
        (GenArgs(width=1024, height=1024, num_inference_steps=47, output_format="jpeg"), True),
        (GenArgs(width=1024, height=1024, num_inference_steps=48, output_format="jpeg"), False),
        (GenArgs(num_images=4, width=1024, height=1024, num_inference_steps=100), False),
        (GenArgs(width=1024, height=1024, num_inference_steps=10, output_format="png"), True),
        (GenArgs(num_images=2, width=1024, height=1024, num_inference_steps=10, output_format="png"), False),
    ],
)
def test_generation_bounds_on_an_a10g(args: GenArgs, allowed: bool) -> None:
    if allowed:
        limits.check_generation(args, "ml.g5.xlarge")
    else:
        with pytest.raises(InvalidRequest):
            limits.check_generation(args, "ml.g5.xlarge")


def test_without_a_hosting_instance_type_only_the_response_size_is_bounded() -> None:
    limits.check_generation(GenArgs(num_images=4, width=1024, height=1024, num_inference_steps=100), "")
    with pytest.raises(InvalidRequest, match="response limit"):
        limits.check_generation(GenArgs(num_images=4, width=1024, height=1024, output_format="png"), "")


def test_the_training_budget_is_the_invocation_timeout_minus_a_margin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert 0 < TRAINING_BUDGET_SECONDS < Runtime.ASYNC_INVOCATION_TIMEOUT_SECONDS
    answers = iter([float(TRAINING_BUDGET_SECONDS), TRAINING_BUDGET_SECONDS + 1.0])
    monkeypatch.setattr(limits, "estimator", lambda *_: lambda hp, it: next(answers))
    assert limits.check_training(TrainingHyperparameters(), "ml.g5.2xlarge") == TRAINING_BUDGET_SECONDS
    with pytest.raises(InvalidRequest, match=r"estimated at 3,301 s on ml\.g5\.2xlarge"):
        limits.check_training(TrainingHyperparameters(), "ml.g5.2xlarge")
    assert limits.check_training(TrainingHyperparameters(), "") is None


def test_x_ray_records_neither_responses_nor_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    tracer = mock.Mock()
    tracer.capture_lambda_handler.return_value = lambda function: function
    monkeypatch.setattr(handlers, "tracer", tracer)
    handlers.make_handler(mock.Mock())
    tracer.capture_lambda_handler.assert_called_once_with(capture_response=False, capture_error=False)


def test_the_contracts_cost_model_is_what_the_api_asks() -> None:
    estimate = limits.estimator()
    seconds = estimate(TrainingHyperparameters(), "ml.g5.2xlarge")
    assert 0 < seconds <= TRAINING_BUDGET_SECONDS  # the default configuration fits
    assert limits.check_training(TrainingHyperparameters(), "ml.g5.2xlarge") == seconds


# --- issue 21 M4: the per-owner cost quota uses the same cost model ---------------------------------


def test_the_owners_pixel_steps_per_minute_are_gpu_seconds_of_the_instances_throughput() -> None:
    cost, quota = limits.owner_cost(GenArgs(), "ml.g5.xlarge", gpu_seconds_per_minute=30)
    steps = GenArgs().num_inference_steps
    assert (cost, quota) == (512 * 512 * steps, int(2.5e6 * 30))
    assert limits.owner_cost(GenArgs(), "ml.g6e.xlarge", 30)[1] == int(4.0e6 * 30)
    assert limits.owner_cost(GenArgs(), "", 30) == (512 * 512 * steps, None)  # no instance type: no quota


def test_a_request_that_alone_exceeds_the_owners_minute_is_a_400() -> None:
    largest = GenArgs(num_images=4, num_inference_steps=47)  # 49.3 M
    limits.owner_cost(largest, "ml.g5.xlarge", gpu_seconds_per_minute=20)  # 50 M: fits
    with pytest.raises(InvalidRequest, match=r"at most 47,500,000 per minute on ml\.g5\.xlarge \(19 GPU"):
        limits.owner_cost(largest, "ml.g5.xlarge", gpu_seconds_per_minute=19)


def test_the_stacks_floor_is_one_largest_request() -> None:
    """stacks.config_constants cannot import the API's settings: its copy must stay equal."""
    from stacks.config_constants import GENERATION_RENDER_SECONDS

    assert GENERATION_RENDER_SECONDS == GENERATION_BUDGET_SECONDS - GENERATION_OVERHEAD_SECONDS


def test_finishing_passes_are_counted_by_the_cost_model() -> None:
    base = limits.generation_cost(GenArgs(), native_size=512)
    hires = GenArgs.model_validate({"hires": {"scale": 2.0, "strength": 0.4}})
    assert limits.generation_cost(hires, 512) == base + 1024 * 1024 * 10  # int(25 x 0.4) steps at 1024²
    faces = GenArgs.model_validate({"num_images": 2, "face_detail": {"max_faces": 3, "strength": 0.4}})
    assert limits.generation_cost(faces, 512) == 2 * (512 * 512 * 25 + 3 * 512 * 512 * 10)


def test_png_bound_uses_the_hires_output_size() -> None:
    args = GenArgs.model_validate(
        {"output_format": "png", "width": 768, "height": 768, "hires": {"scale": 2}}
    )
    with pytest.raises(InvalidRequest, match="1536x1536"):
        limits.check_generation(args, "")


@pytest.mark.parametrize(
    "finishing",
    [
        {"hires": {"scale": 1.2}},
        {"hires": {"strength": 0.9}},
        {"hires": {"unknown": 1}},
        {"face_detail": {"max_faces": 5}},
        {"face_detail": {"strength": 0.05}},
        {"width": 1536, "hires": {"scale": 1.5}},  # beyond every family's hires bound
    ],
)
def test_finishing_pass_bounds(finishing: dict) -> None:
    with pytest.raises(ValidationError):
        GenArgs.model_validate(finishing)


@pytest.mark.parametrize(
    ("gen_args", "sd21", "sdxl"),
    [
        ({"width": 1024, "hires": {"scale": 1.6}}, "hires: width 1024 x scale 1.6 exceeds 1536 px", None),
        ({"width": 1024, "hires": {"scale": 2.0}}, "hires: width 1024 x scale 2 exceeds 1536 px", None),
        ({"width": 1536}, "width: 1536 px is outside 64-1024 px", None),
        ({"height": 1280}, "height: 1280 px is outside 64-1024 px", None),
        ({"width": 1024, "height": 1024}, None, None),
    ],
)
def test_sizes_are_bounded_by_the_deployed_family(gen_args: dict, sd21: str | None, sdxl: str | None) -> None:
    args = GenArgs.model_validate(gen_args)  # any family's sizes parse
    for family_name, expected in (("sd21-base", sd21), ("sdxl-base-1.0", sdxl)):
        if expected is None:
            limits.check_generation(args, "", family_name)
        else:
            with pytest.raises(
                InvalidRequest, match=re.escape(f"gen_args.{expected} for base family {family_name}")
            ):
                limits.check_generation(args, "", family_name)


def test_the_throughput_and_native_size_are_the_familys() -> None:
    assert limits.native_size("sd21-base") == 512 and limits.native_size("sdxl-base-1.0") == 1024
    assert limits.throughput("ml.g5.xlarge", "sdxl-base-1.0") < limits.throughput("ml.g5.xlarge", "sd21-base")
    sdxl = limits.owner_cost(GenArgs(), "", 30, "sdxl-base-1.0")[0]
    assert sdxl == 1024 * 1024 * 25  # an absent size is the family's native one
