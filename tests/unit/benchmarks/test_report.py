"""`python -m benchmarks.report --update-docs` rewrites docs/performance.md between its markers only."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.common import Figure, Result, Stats
from benchmarks.cost import write_cost_model
from benchmarks.report import PERFORMANCE_MD, performance_sections, update_sections


def test_the_performance_page_has_both_generated_sections() -> None:
    text = PERFORMANCE_MD.read_text()
    for name in ("performance", "cost"):
        assert text.count(f"<!-- BEGIN {name} -->") == 1
        assert text.index(f"<!-- BEGIN {name} -->") < text.index(f"<!-- END {name} -->")


def test_update_rewrites_the_sections_and_keeps_the_rest(tmp_path: Path) -> None:
    results = tmp_path / "results"
    training = Result("training", "t", toy=False)
    training.add(Figure("tiny 64px", "train step", "s/step", Stats([0.25]), Stats([0.5])))
    training.write(results, {"cpu": "test"})
    cost_md = write_cost_model(results, tmp_path / "cost.md")
    page = tmp_path / "performance.md"
    page.write_text(PERFORMANCE_MD.read_text() + "\nhand-written tail\n")

    update_sections(page, performance_sections(results, cost_md))

    text = page.read_text()
    assert text.startswith("# Performance and cost\n") and text.endswith("\nhand-written tail\n")
    performance = text[text.index("<!-- BEGIN performance -->") : text.index("<!-- END performance -->")]
    assert "| training | tiny 64px | train step (s/step) | 0.250" in performance
    assert "full-size 512px default config" not in performance  # the old table is gone
    assert "## Cost" in text[text.index("<!-- BEGIN cost -->") : text.index("<!-- END cost -->")]


def test_update_refuses_a_page_without_the_markers(tmp_path: Path) -> None:
    page = tmp_path / "other.md"
    page.write_text("# no markers\n")
    with pytest.raises(ValueError, match="has no <!-- BEGIN performance -->"):
        update_sections(page, {"performance": "x"})
