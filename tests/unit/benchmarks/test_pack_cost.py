"""The cost of a pack per base family (benchmarks/pack_cost.py): GPU time from the images' pixel-steps,
finishing passes included, one row per (family, curated pack): its variant for the family, else its
default file at the family's native size."""

from __future__ import annotations

from pathlib import Path

import pytest

from avatar_contract.generation import GenArgs, HiresPass
from avatar_contract.packs import Pack, PackPrompt, curated_packs
from benchmarks.cost import gather_inputs, write_cost_model
from benchmarks.pack_cost import FAMILIES, pack_costs
from benchmarks.pack_cost import pack_cost as cost_of


def _pack(family: str, **gen_args: object) -> Pack:
    prompt = PackPrompt(prompt="<<TOK>> as a pilot", images=4, gen_args=GenArgs(**gen_args))
    return Pack(name="pilot", family=family, title="Pilot", description="d", prompts=[prompt, prompt])


def test_gpu_time_follows_the_pixel_steps_and_the_finishing_passes() -> None:
    inputs = gather_inputs({})
    family = FAMILIES[0]
    plain = cost_of(_pack(family.name, num_inference_steps=30), family, inputs)
    # 8 images at the native size and 30 steps: 8 x the family's generation time
    assert plain.images == 8 and plain.gpu_seconds == pytest.approx(8 * inputs["generation_seconds"])
    hires = cost_of(_pack(family.name, num_inference_steps=30, hires=HiresPass(scale=2.0)), family, inputs)
    # + per image (2 x side)^2 at int(30 x 0.35) = 10 steps: 4 x 10/30 of a generation
    assert hires.gpu_seconds == pytest.approx(plain.gpu_seconds * (1 + 4 * 10 / 30))
    assert hires.total > plain.total > plain.hosting > 0 and plain.per_image == plain.total / 8


def test_every_family_gets_a_row_per_curated_pack_at_its_own_size_and_time() -> None:
    inputs = gather_inputs({})
    names = sorted({pack.name for pack in curated_packs()})
    rows = pack_costs(inputs)
    assert {family.name for family in FAMILIES} == {"sd21-base", "sdxl-base-1.0"} and len(names) >= 4
    for family in FAMILIES:
        assert sorted(row.pack for row in rows if row.family == family.name) == names
    sd21, sdxl = (next(f for f in FAMILIES if f.name == name) for name in ("sd21-base", "sdxl-base-1.0"))
    assert (sd21.native_size, sdxl.native_size) == (512, 1024)
    # the same pack (no size in it) costs what its images cost at each family's image time
    by = {(row.family, row.pack): row for row in rows}
    ratio = sdxl.generation_seconds(inputs) / sd21.generation_seconds(inputs)
    assert by["sdxl-base-1.0", "astronaut"].gpu_seconds == pytest.approx(
        by["sd21-base", "astronaut"].gpu_seconds * ratio
    )


def test_a_family_variant_of_a_pack_is_the_one_that_family_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = gather_inputs({})
    monkeypatch.setattr(
        "avatar_contract.packs.curated_packs",
        lambda: (*curated_packs(), _pack("sdxl-base-1.0"), _pack("sd21-base", num_inference_steps=5)),
    )
    rows = {(row.family, row.pack): row for row in pack_costs(inputs)}
    assert rows["sdxl-base-1.0", "pilot"].gpu_seconds != rows["sd21-base", "pilot"].gpu_seconds
    assert rows["sd21-base", "pilot"].images == rows["sdxl-base-1.0", "pilot"].images == 8


def test_the_cost_document_has_the_pack_table(tmp_path: Path) -> None:
    text = write_cost_model(tmp_path / "none", tmp_path / "cost.md").read_text()
    assert "## Avatar packs, per base family" in text and "| sd21-base | astronaut | 12 |" in text
