"""The cost model is computed from the results files, and says where each input came from."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.common import Figure, Result, Stats
from benchmarks.cost import gather_inputs, write_cost_model


def _write(results_dir: Path, result: Result) -> None:
    result.write(results_dir, {"cpu": "test"})


def test_without_results_every_input_is_an_assumption(tmp_path: Path) -> None:
    out = write_cost_model(tmp_path / "none", tmp_path / "cost.md")
    text = out.read_text()
    for heading in ("## Headline", "## Scaling (per month)", "## Inputs and assumptions", "## Prices"):
        assert heading in text
    assert "1,000,000" in text and "cost per 1000 generations" in text and "idle cost per month" in text
    assert "https://aws.amazon.com/sagemaker/pricing/" in text
    assert "assumed 1.0: no training ratio measured" in text


def test_measured_figures_replace_assumptions(tmp_path: Path) -> None:
    training = Result("training", "t", toy=False)
    training.add(
        Figure("full-size 512px default config", "train step", "s/step", Stats([10.0]), Stats([20.0]))
    )
    _write(tmp_path, training)
    adapters = Result("adapters", "t", toy=False)
    adapters.add(
        Figure("full-size SD 2.1 fp16", "adapter weights per resident adapter", "MiB", Stats([40.0]))
    )
    _write(tmp_path, adapters)
    inputs = gather_inputs(json.loads(json.dumps(_load(tmp_path))))
    # 1500 s x 1000/1000 steps / (20 s / 10 s per step)
    assert inputs["our_training_seconds"] == 750.0
    assert inputs["adapter_mib"] == 40.0
    assert "measured" in inputs.sources["adapter_mib"]


def test_toy_results_are_never_used_as_figures(tmp_path: Path) -> None:
    training = Result("training", "t", toy=True)
    training.add(Figure("full-size 512px default config", "train step", "s/step", Stats([1.0]), Stats([9.0])))
    _write(tmp_path, training)
    inputs = gather_inputs(_load(tmp_path))
    assert inputs["our_training_seconds"] == 1500.0  # the default 1000 steps at the reference's pace


def _load(results_dir: Path) -> dict:
    from benchmarks.common import load_results

    return load_results(results_dir)
