"""Checkpoint selection's logic with a stand-in renderer and scorer (the tiny model renders no faces):
the best median is kept, ties go to the later checkpoint, no face never wins, and when no checkpoint has
a face the last one is kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from skimage import data

from avatar_contract.training import CheckpointLikeness, TrainingHyperparameters
from face_analysis.likeness import Likeness
from training_service.checkpoints import Checkpoints, choose, select
from training_service.trainer import train_lora


def _scored(*medians: float | None) -> list[CheckpointLikeness]:
    return [
        CheckpointLikeness(step=(n + 1) * 100, identity_similarity=[m], identity_similarity_median=m)
        for n, m in enumerate(medians)
    ]


@pytest.mark.parametrize(
    ("medians", "kept"),
    [
        ((0.31, 0.72, 0.55), 1),  # the best median
        ((0.6, 0.6, 0.2), 1),  # a tie: the later one
        ((None, 0.1, None), 1),  # a face, however unlike, beats no face
        ((None, None, None), 2),  # no face anywhere: the last one
        ((0.5,), 0),
    ],
)
def test_the_best_median_is_kept(medians: tuple[float | None, ...], kept: int) -> None:
    assert select(_scored(*medians)) == kept


def test_the_last_rule_keeps_the_last_whatever_the_scores() -> None:
    assert select(_scored(0.9, 0.1), rule="last") == 1
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
