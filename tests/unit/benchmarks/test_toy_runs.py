"""`python -m benchmarks --toy` and `python -m benchmarks.gpu --toy` run end to end (real training
steps, a real Triton server, the real handlers) and write well-formed results. No timing is asserted."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.__main__ import main, registry


def _check_stats(stats: dict | None) -> None:
    if stats is None:
        return
    assert stats["n"] == len(stats["samples"]) >= 1
    assert stats["min"] <= stats["median"] <= stats["max"]
    assert all(math.isfinite(v) for v in stats["samples"])


def _check_result(path: Path) -> dict:
    data = json.loads(path.read_text())
    assert data["schema_version"] == 1 and data["toy"] is True and data["error"] is None, data.get("error")
    assert data["environment"]["versions"]["torch"] and data["environment"]["cpu_count"] >= 1
    assert data["figures"] or data["skipped"], f"{path.name} measured nothing and said nothing"
    for figure in data["figures"]:
        assert figure["case"] and figure["metric"] and figure["unit"]
        assert figure["ours"] is not None or figure["reference"] is not None
        for key in ("ours", "reference", "ratio_reference_over_ours"):
            _check_stats(figure[key])
    for skip in data["skipped"]:
        assert skip["what"] and skip["why"]
    return data


@pytest.mark.slow
def test_every_benchmark_runs_at_toy_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--toy", "--results-dir", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    for name in registry():
        _check_result(tmp_path / f"{name}.json")
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
def test_gpu_script_runs_at_toy_size_on_cpu(tmp_path: Path) -> None:
    pytest.importorskip("training_service.trainer", reason="training service not in this checkout")
    pytest.importorskip("hosting_server.engine", reason="hosting engine not in this checkout")
    from benchmarks.gpu import main as gpu_main

    assert gpu_main(["--toy", "--results-dir", str(tmp_path)]) == 0
    data = _check_result(tmp_path / "gpu.json")
    metrics = {f["metric"] for f in data["figures"]}
    assert {"training step", "generation, base only", "warm switch", "per resident adapter"} <= metrics
    assert data["settings"]["device"]["device"] == "cpu"
