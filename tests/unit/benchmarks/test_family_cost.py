"""The cost model per base family (benchmarks/family_cost.py, issue 24 item 7): one row per family of
avatar_contract.families, from the service's own training estimate and the staged manifests."""

from __future__ import annotations

import pytest

from avatar_contract.families import FAMILIES
from avatar_contract.training import hyperparameters_model
from avatar_contract.training_budget import estimate
from benchmarks.cost import gather_inputs
from benchmarks.family_cost import CACHE_BOUND, family_costs, render_section, staged_gib


def test_one_row_per_family_from_the_services_own_estimate() -> None:
    inputs = gather_inputs({})
    rows = {row.family: row for row in family_costs(inputs)}
    assert set(rows) == {str(name) for name in FAMILIES}
    for name, family in FAMILIES.items():
        row = rows[str(name)]
        expected = estimate(
            hyperparameters_model(name)(), family.training_instance_type, 25, base_family=name
        )
        assert row.training_seconds == pytest.approx(expected.total) and row.training_cost > 0
        assert row.base_gib == pytest.approx(staged_gib(family.manifest_path)) and row.base_gib > 1
        assert 0 < row.resident <= CACHE_BOUND and row.per_1000_images > 0
    sd21, sdxl = rows["sd21-base"], rows["sdxl-base-1.0"]
    # SDXL: larger base, larger adapters, slower images: fewer adapters fit and each image costs more
    assert sdxl.base_gib > sd21.base_gib and sdxl.resident_by_memory < sd21.resident_by_memory
    assert sdxl.image_seconds > sd21.image_seconds and sdxl.per_1000_images > sd21.per_1000_images
    assert sd21.image_seconds == inputs["generation_seconds"]


def test_the_section_says_which_inputs_are_estimates() -> None:
    text = "\n".join(render_section(gather_inputs({})))
    assert text.count("(estimate)") >= 2 and "| sdxl-base-1.0 |" in text and "(manifest)" in text
