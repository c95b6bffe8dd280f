"""The cost of a pack per base family (benchmarks/pack_cost.py): GPU time from the images' pixel-steps,
finishing passes included, one row per (family, curated pack), and a second family adding its rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from avatar_contract.generation import GenArgs, HiresPass
from avatar_contract.packs import Pack, PackPrompt, curated_packs
from benchmarks import pack_cost
from benchmarks.cost import gather_inputs, write_cost_model
from benchmarks.pack_cost import FAMILIES, Family, pack_costs
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


def test_one_row_per_curated_pack_and_a_second_family_adds_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = gather_inputs({})
    names = sorted(pack.name for pack in curated_packs() if pack.family == "sd21-base")
    assert sorted(row.pack for row in pack_costs(inputs)) == names and len(names) >= 4
    other = Family("sdxl-base-1.0", 1024, "ml.g5.2xlarge_hour", "generation_seconds")
    monkeypatch.setattr(pack_cost, "FAMILIES", (*FAMILIES, other))
    monkeypatch.setattr(
        "avatar_contract.packs.curated_packs", lambda: (*curated_packs(), _pack("sdxl-base-1.0"))
    )
    rows = pack_costs(inputs)
    assert [row.pack for row in rows if row.family == "sdxl-base-1.0"] == ["pilot"]


def test_the_cost_document_has_the_pack_table(tmp_path: Path) -> None:
    text = write_cost_model(tmp_path / "none", tmp_path / "cost.md").read_text()
    assert "## Avatar packs, per base family" in text and "| sd21-base | astronaut | 12 |" in text
