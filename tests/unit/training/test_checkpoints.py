"""Checkpoint selection's logic with a stand-in renderer and scorer (the tiny model renders no faces):
each checkpoint's mean over its previews, a preview without a face or copying a training photo counting
as a failure (0); the earliest checkpoint within one standard error of the best mean is kept, and when
no checkpoint has a face the last one is kept. With real faces (public-domain portraits): a checkpoint
whose previews copy the selfies loses to one that renders the person anew."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from skimage import data

from avatar_contract.training import CheckpointLikeness, TrainingHyperparameters
from face_analysis.likeness import Likeness
from training_service.checkpoints import Checkpoints, assess, choose, near_copies, select
from training_service.trainer import train_lora


def _scored(*previews: tuple[float | None, ...]) -> list[CheckpointLikeness]:
    return [assess((n + 1) * 100, Likeness(scores=list(s), median=None)) for n, s in enumerate(previews)]


@pytest.mark.parametrize(
    ("previews", "kept"),
    [
        (((0.3, 0.32), (0.7, 0.72), (0.55, 0.57)), 1),  # the best mean, clearly
        (((0.6, 0.6), (0.6, 0.6), (0.2, 0.2)), 0),  # a tie: the earlier one
        # 0.66 ± 0.02 is within one standard error (0.05) of the best, 0.7 ± 0.05: the earliest near-best
        (((0.3, 0.3), (0.64, 0.68), (0.65, 0.75), (0.7, 0.7)), 1),
        (((None, None), (0.1, None), (None, None)), 1),  # a face, however unlike, beats no face
        (((None, None), (None, None), (None, None)), 2),  # no face anywhere: the last one
        (((0.5,),), 0),
    ],
)
def test_the_earliest_near_best_mean_is_kept(previews: tuple[tuple[float | None, ...]], kept: int) -> None:
    assert select(_scored(*previews)) == kept


def test_a_faceless_preview_is_a_failure_that_lowers_the_mean() -> None:
    faces = assess(100, Likeness(scores=[0.7, 0.7, 0.7, 0.7], median=0.7))
    one_faceless = assess(200, Likeness(scores=[0.7, 0.7, 0.7, None], median=0.7))
    assert faces.identity_similarity_mean == 0.7 and faces.failures == 0
    assert one_faceless.identity_similarity_mean == 0.525 and one_faceless.failures == 1
    assert one_faceless.identity_similarity_median == 0.7  # the median alone would not have seen it
    assert select([one_faceless, faces]) == 1
    copied = assess(300, Likeness(scores=[0.9, 0.9], median=0.9), copies=[True, False])
    assert copied.identity_similarity_mean == 0.45 and copied.failures == 1


def test_the_last_rule_keeps_the_last_whatever_the_scores() -> None:
    assert select(_scored((0.9,), (0.1,)), rule="last") == 1
    with pytest.raises(ValueError):
        select([])


def test_choose_renders_every_checkpoint_in_step_order_and_keeps_its_previews(tmp_path: Path) -> None:
    adapters = {step: tmp_path / f"step-{step}" for step in (6, 2, 4)}
    rendered: list[Path] = []

    def render(adapter_dir: Path) -> list[Image.Image]:  # a stand-in: one grey level per checkpoint
        rendered.append(adapter_dir)
        return [Image.new("RGB", (8, 8), (len(rendered) * 40,) * 3)]

    medians = {40: 0.45, 80: 0.62, 120: None}  # stand-in scorer keyed by the stand-in's grey level

    def score(images: list[Image.Image]) -> Likeness:
        level = images[0].getpixel((0, 0))[0]
        return Likeness(scores=[medians[level]], median=medians[level])

    choice = choose(adapters, render, score)

    assert rendered == [adapters[2], adapters[4], adapters[6]]
    assert (choice.step, choice.adapter_dir) == (4, adapters[4])
    assert choice.previews[0].getpixel((0, 0)) == (80, 80, 80) and choice.likeness.median == 0.62
    assert [c.identity_similarity_mean for c in choice.scored] == [0.45, 0.62, None]
    assert [(c.step, c.identity_similarity_median) for c in choice.scored] == [
        (2, 0.45),
        (4, 0.62),
        (6, None),
    ]


def test_the_plan_saves_before_the_last_step_and_the_last_is_the_output(tmp_path: Path) -> None:
    config = TrainingHyperparameters(max_train_steps=7, checkpoint_every_steps=3)
    plan = Checkpoints(config, tmp_path / "checkpoints")
    assert plan.steps == [3, 6, 7]
    assert [step for step in range(1, 8) if plan.due(step)] == [3, 6]
    # Stopped early after step 5: the step-3 checkpoint and the output at step 5.
    assert plan.adapters(tmp_path / "adapter", 5) == {3: plan.directory(3), 5: tmp_path / "adapter"}
    assert plan.adapters(tmp_path / "adapter") == {
        3: tmp_path / "checkpoints" / "step-00003",
        6: tmp_path / "checkpoints" / "step-00006",
        7: tmp_path / "adapter",
    }


@pytest.mark.slow
def test_saving_checkpoints_leaves_the_training_unchanged(tiny_model_dir: Path, tmp_path: Path) -> None:
    images = [Image.fromarray(data.astronaut()).resize((64, 64)).rotate(5 * n) for n in range(3)]
    values = dict(max_train_steps=4, resolution=64, lora_rank=4, text_encoder_lora_rank=2, num_class_images=2)
    plain = train_lora(
        tiny_model_dir, images, TrainingHyperparameters(**values), tmp_path / "a", sample_steps=2
    )
    config = TrainingHyperparameters(**values, checkpoint_every_steps=2)
    plan = Checkpoints(config, tmp_path / "checkpoints")
    checked = train_lora(tiny_model_dir, images, config, tmp_path / "b", sample_steps=2, checkpoints=plan)

    a, b = load_file(plain.adapter_file), load_file(checked.adapter_file)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # bit for bit, on CPU
    assert plain.losses == checked.losses
    middle = load_file(plan.directory(2) / "pytorch_lora_weights.safetensors")
    assert middle.keys() == a.keys() and any(not torch.equal(middle[k], a[k]) for k in a)
    assert not plan.directory(4).exists()  # the last step is the output directory itself


@pytest.mark.slow
def test_a_checkpoint_that_copies_the_selfies_loses_to_one_that_renders_the_person_anew(
    tmp_path: Path,
) -> None:
    """Real faces: previews that are the training crops score high but near-copy them (rejected); a
    checkpoint whose previews show no face fails; the one rendering new framings of the person is kept."""
    from face_analysis.likeness import score
    from tests.fixtures.faces import face_variant, faceless, selfies
    from training_service.screening import screen_and_crop

    crops, _, screening = screen_and_crop(selfies("astronaut", 10), 256)
    assert screening.identity is not None and len(crops) >= 8
    training = list(crops.values())
    previews = {
        tmp_path / "copies": training[:4],
        tmp_path / "anew": [face_variant(seed) for seed in (40, 41, 42, 43)],
        tmp_path / "faceless": [image.resize((256, 256)) for image in faceless().values()] * 2,
    }
    adapters = dict(zip((2, 4, 6), previews, strict=True))
    identity = screening.identity

    choice = choose(
        adapters, lambda adapter: previews[adapter], lambda images: score(images, identity),
        copies=lambda images: near_copies(images, training, max_bits=12),
    )  # fmt: skip

    copies, anew, none = choice.scored
    assert copies.failures == 4 and copies.identity_similarity_mean == 0.0
    assert min(s for s in copies.identity_similarity if s is not None) > 0.4  # they do look like her
    assert anew.failures == 0 and (anew.identity_similarity_mean or 0) > 0.4
    assert none.failures == 4 and none.identity_similarity_mean is None
    assert choice.step == 4
