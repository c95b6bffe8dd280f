"""The training time budget and the cost model the API refuses configurations with."""

from __future__ import annotations

import pytest

from avatar_contract import training_budget as budget
from avatar_contract.families import FAMILIES, FamilyName, family
from avatar_contract.names import Runtime
from avatar_contract.training import TrainingHyperparameters, hyperparameters_model

G5 = "ml.g5.2xlarge"


def _seconds(instance_type: str = G5, **overrides: object) -> float:
    return budget.estimate(TrainingHyperparameters(**overrides), instance_type).total


def test_the_budget_is_the_async_limit_minus_the_margin() -> None:
    assert budget.TRAINING_TIME_BUDGET_SECONDS == Runtime.ASYNC_INVOCATION_TIMEOUT_SECONDS - 300


def test_the_a10g_constants_reproduce_the_reference_figure() -> None:
    """The reference's own run (its loop, 50-step class images) comes out at its 1500 s."""
    reference = TrainingHyperparameters(max_train_steps=1000, num_class_images=50)
    parts = budget.estimate(reference, "ml.g5.xlarge", sample_steps=50)
    as_reference = parts.fixed + parts.training * budget.LOOP_SPEEDUP + parts.class_images
    assert as_reference == pytest.approx(budget.REFERENCE_SECONDS, abs=1)


def test_the_default_configuration_fits_with_room_for_its_checkpoints() -> None:
    """1000 steps, 200 class images and five scored checkpoints (2 prompts × 2 seeds each) at the service's
    25 sampling steps leave more than 40 % of the budget."""
    parts = budget.estimate(TrainingHyperparameters(), G5, sample_steps=25)
    image = budget.A10G.image_seconds * 25 / 30
    assert parts.class_images == pytest.approx(200 * image)
    assert parts.previews == pytest.approx(4 * image)
    assert parts.checkpoints == pytest.approx(4 * (4 * image + budget.CHECKPOINT_SECONDS))
    assert parts.total < budget.TRAINING_TIME_BUDGET_SECONDS * 0.6


def test_the_accepted_maxima_are_refused_with_the_estimate() -> None:
    maxima = TrainingHyperparameters(max_train_steps=3000, resolution=1024, num_class_images=300)
    reason = budget.over_budget_reason(maxima, G5)
    assert reason is not None
    assert f"on {G5}" in reason and "the limit is 3300 s" in reason
    estimate = round(budget.estimate(maxima, G5).total)
    assert f"estimated at {estimate} s" in reason and estimate > 3 * 3600
    assert budget.over_budget_reason(TrainingHyperparameters(), G5) is None


def test_each_factor_raises_the_estimate() -> None:
    base = _seconds(with_prior_preservation=False, train_text_encoder=False)
    assert _seconds(with_prior_preservation=False) == pytest.approx(
        base + (budget.A10G.text_encoder_factor - 1) * budget.estimate(TrainingHyperparameters(
            with_prior_preservation=False, train_text_encoder=False), G5).training
    )  # fmt: skip
    assert _seconds(max_train_steps=1600) > _seconds(max_train_steps=800)
    assert _seconds(resolution=768) > _seconds(resolution=512) > _seconds(resolution=256)
    assert _seconds(num_class_images=300) > _seconds(num_class_images=50)
    assert _seconds(num_class_images=300, with_prior_preservation=False) == _seconds(
        with_prior_preservation=False
    )
    assert _seconds(validation_prompts=["a"] * 4) > _seconds(validation_prompts=["a"])


def test_resolution_errs_long_of_the_cpu_measurement() -> None:
    """Full-size 256 → 512 px measured 3.53× per step on CPU (docs/performance.md); the model says more."""
    assert budget.area(512) / budget.area(256) > 32.9 / 9.31
    assert budget.area(512) == 1.0 and budget.area(1024) > 4.0


def test_instance_types() -> None:
    assert _seconds("ml.g5.xlarge") == _seconds("ml.g5.12xlarge") == _seconds(G5)  # one A10G each
    assert _seconds("ml.g4dn.xlarge") > _seconds(G5) > _seconds("ml.p4d.24xlarge")
    with pytest.raises(ValueError, match=r"ml\.m5\.large"):
        _seconds("ml.m5.large")


def test_a_mapping_and_the_model_give_the_same_estimate() -> None:
    model = TrainingHyperparameters(max_train_steps=1200, resolution=640)
    assert budget.estimate(model.model_dump(), G5).total == budget.estimate(model, G5).total
    with pytest.raises(ValueError, match="resolution"):
        budget.estimate({"max_train_steps": 5}, G5)


def test_checkpoints_add_their_previews_to_the_estimate_and_the_refusal_says_so() -> None:
    one = {"validation_prompts": ["a"]}
    plain = budget.estimate(TrainingHyperparameters(**one, checkpoint_every_steps=0), G5)
    checked = budget.estimate(TrainingHyperparameters(**one, checkpoint_every_steps=200), G5)  # 200..1000
    image = plain.previews / 1  # one validation prompt, one seed
    assert plain.checkpoints == 0
    assert checked.previews == pytest.approx(2 * image)  # scored: two seeds per prompt
    assert checked.checkpoints == pytest.approx(4 * (2 * image + budget.CHECKPOINT_SECONDS))
    assert checked.total == pytest.approx(plain.total + image + checked.checkpoints)
    long = {"max_train_steps": 2600, "validation_prompts": ["a"] * 4, "num_class_images": 50}  # fits
    assert budget.over_budget_reason(TrainingHyperparameters(**long, checkpoint_every_steps=0), G5) is None
    reason = budget.over_budget_reason(TrainingHyperparameters(**long, checkpoint_every_steps=260), G5)
    assert reason is not None and "s of checkpoint previews" in reason and reason.endswith("or checkpoints")


def test_default_checkpoints_every_200_steps_at_most_ten_and_off_without_face_crop() -> None:
    assert budget.checkpoint_interval(1000, None) == 200
    assert budget.checkpoint_interval(3000, None) == 300  # ten checkpoints
    assert budget.checkpoint_interval(1000, None, face_crop=False) == 0
    assert budget.checkpoint_interval(1000, 0) == 0 and budget.checkpoint_interval(1000, 50) == 50


def test_a_preview_is_estimated_from_the_measured_step_at_the_cost_model_ratio() -> None:
    step = budget.A10G.step_seconds * budget.PRIOR_FACTOR * budget.A10G.text_encoder_factor
    assert budget.render_seconds(step, 30) == pytest.approx(budget.A10G.image_seconds)
    assert budget.render_seconds(2 * step, 15) == pytest.approx(budget.A10G.image_seconds)


@pytest.mark.parametrize("name", list(FamilyName))
def test_each_family_default_fits_its_default_instance_with_room(name: FamilyName) -> None:
    """A user who changes nothing is never refused: the family's defaults fit its own training instance."""
    chosen = family(name)
    defaults = hyperparameters_model(name)()
    parts = budget.estimate(defaults, chosen.training_instance_type, sample_steps=25, base_family=name)
    assert parts.total < budget.TRAINING_TIME_BUDGET_SECONDS * 0.8
    assert budget.area(chosen.native_resolution, name) == 1.0


def test_sdxl_at_its_native_size_costs_more_than_sd21_at_its_own() -> None:
    sd21 = budget.estimate(TrainingHyperparameters(resolution=512), G5, base_family="sd21-base").total
    sdxl = budget.estimate(TrainingHyperparameters(resolution=1024), G5, base_family="sdxl-base-1.0").total
    assert sdxl > 2 * sd21
    # at SDXL's native 1024 px, prior preservation (100 class images) and 800 steps leave the budget
    prior = hyperparameters_model("sdxl-base-1.0")(with_prior_preservation=True)
    assert budget.over_budget_reason(prior, G5, base_family="sdxl-base-1.0") is not None
    assert (
        budget.over_budget_reason(
            prior.model_copy(update={"resolution": 768}), G5, base_family="sdxl-base-1.0"
        )
        is None
    )
    assert set(FAMILIES) == set(FamilyName)
