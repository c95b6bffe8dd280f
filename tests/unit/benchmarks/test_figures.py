"""The figures' arithmetic, the results file and the table (no benchmark is run here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.common import Figure, Result, Stats, ratio_stats, render_table, table_rows


def test_stats_median_spread_and_percentiles() -> None:
    stats = Stats([3.0, 1.0, 2.0, 10.0])
    assert stats.median == 2.5
    assert (stats.low, stats.high, stats.n) == (1.0, 10.0, 4)
    latencies = Stats([float(v) for v in range(1, 201)])
    assert latencies.quantile(0.5) == 100.0
    assert latencies.quantile(0.95) == 190.0


def test_ratio_is_paired_by_repeat_when_counts_match() -> None:
    ratio = ratio_stats(Stats([2.0, 6.0, 4.0]), Stats([1.0, 2.0, 4.0]))
    assert ratio.samples == [2.0, 3.0, 1.0]
    assert ratio.median == 2.0


def test_ratio_against_our_median_when_counts_differ() -> None:
    ratio = ratio_stats(Stats([4.0, 8.0]), Stats([1.0, 2.0, 4.0]))
    assert ratio.samples == [2.0, 4.0]


def test_result_file_is_well_formed_json(tmp_path: Path) -> None:
    result = Result("demo", "a title", toy=True, settings={"n": 3})
    result.add(Figure("case", "load", "s", Stats([1.0, 2.0, 3.0]), Stats([4.0, 4.0, 9.0])))
    result.add(Figure("case", "switch", "s", Stats([0.5])))
    result.skip("thing", "why it was not measured")
    path = result.write(tmp_path, {"cpu": "x", "versions": {"torch": "0"}})
    data = json.loads(path.read_text())
    assert data["name"] == "demo" and data["toy"] is True and data["environment"]["cpu"] == "x"
    first, second = data["figures"]
    assert first["ours"]["median"] == 2.0 and first["reference"]["median"] == 4.0
    assert first["ratio_reference_over_ours"]["samples"] == [4.0, 2.0, 3.0]
    assert second["reference"] is None and second["ratio_reference_over_ours"] is None
    assert data["skipped"] == [{"what": "thing", "why": "why it was not measured"}]


@pytest.mark.parametrize("markdown", [False, True])
def test_table_has_one_row_per_figure_and_skip(markdown: bool) -> None:
    result = Result("b", "t", toy=False)
    result.add(Figure("c", "m", "s", Stats([1.0, 3.0]), Stats([2.0, 6.0])))
    result.skip("gpu", "no GPU")
    failed = Result("x", "t", toy=False, error="RuntimeError: boom")
    text = render_table(table_rows([result, failed]), markdown=markdown)
    assert "2.00x" in text and "[1.00–3.00]" in text
    assert "not measured: no GPU" in text and "ERROR" in text
