"""`python -m benchmarks --toy` and `python -m benchmarks.gpu --toy` run end to end (real training
steps, a real Triton server, the real handlers) and write well-formed results that measured something.
No speed is asserted: a duration only has to be positive. The two toy runs carry the `bench` marker: `make
bench` runs them before the real benchmarks, `make test` leaves them out (pyproject's addopts)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.__main__ import main, registry

# What each benchmark leaves out at toy size on purpose. Any other skip fails: here every dependency is
# installed, so a benchmark that measured nothing (a missing import, a case that never ran) is a failure,
# not a pass.
TOY_OMISSIONS: dict[str, set[str]] = {
    "training": set(),
    "triton_load": {"full-size architecture"},
    "adapters": {"full-size architecture"},
    "lambda": {"latency through the local cloud"},
    "demo": {"make demo"},  # the whole local cloud and a training: it measures nothing at toy size
    "local_cloud": {"local cloud start and stop"},  # boots of the whole local cloud
    "moderation": set(),
    "class_images": set(),
    "faces": {"Lambda asset size"},  # bundles every wheel of the Lambda asset
    "families": set(),
    "finishing": {"full-size architecture"},
    "packs": {"pack throughput through the local cloud"},  # the whole local cloud and a training
}
TIME_UNITS = {"s", "ms", "s/step"}


def _check_stats(stats: dict | None, unit: str) -> None:
    assert stats is not None, "a figure without our measurement"
    assert stats["n"] == len(stats["samples"]) >= 1
    assert stats["min"] <= stats["median"] <= stats["max"]
    assert all(math.isfinite(v) for v in stats["samples"])
    if unit in TIME_UNITS:
        assert all(v > 0 for v in stats["samples"]), f"a duration of zero or less: {stats['samples']}"


def _check_result(path: Path, omissions: set[str]) -> dict:
    data = json.loads(path.read_text())
    assert data["schema_version"] == 1 and data["toy"] is True and data["error"] is None, data.get("error")
    assert data["environment"]["versions"]["torch"] and data["environment"]["cpu_count"] >= 1
    skipped = {skip["what"]: skip["why"] for skip in data["skipped"]}
    assert set(skipped) == omissions, f"{path.name} skipped {skipped}, expected only {sorted(omissions)}"
    assert all(skipped.values())
    if data["name"] not in ("demo", "local_cloud", "packs"):
        assert data["figures"], f"{path.name} measured nothing"
    for figure in data["figures"]:
        assert figure["case"] and figure["metric"] and figure["unit"]
        _check_stats(figure["ours"], figure["unit"])
        if figure["reference"] is not None:
            _check_stats(figure["reference"], figure["unit"])
    return data


@pytest.mark.slow
@pytest.mark.bench
def test_every_benchmark_runs_at_toy_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--toy", "--results-dir", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert set(registry()) == set(TOY_OMISSIONS), "a new benchmark needs its toy omissions declared here"
    for name in registry():
        _check_result(tmp_path / f"{name}.json", TOY_OMISSIONS[name])
        assert name in table
    training = json.loads((tmp_path / "training.json").read_text())
    step = next(f for f in training["figures"] if f["metric"] == "train step")
    assert step["reference"]["median"] > 0  # the reference loop really trained
    cost = (tmp_path / "cost.md").read_text()
    assert "## Scaling (per month)" in cost


def test_unknown_benchmark_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--toy", "--only", "nope"])
    assert "unknown benchmark" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.bench
def test_gpu_script_runs_at_toy_size_on_cpu(tmp_path: Path) -> None:
    from benchmarks.gpu import main as gpu_main

    assert gpu_main(["--toy", "--results-dir", str(tmp_path)]) == 0
    data = _check_result(tmp_path / "gpu.json", set())
    assert data["settings"]["device"]["device"] == "cpu"
    for family in ("sd21-base", "sdxl-base-1.0"):  # both base families, each with every kind of figure
        measured = {f["metric"] for f in data["figures"] if f["case"].startswith(family)}
        assert {"training step", "generation, base only", "warm switch", "per resident adapter"} <= measured
