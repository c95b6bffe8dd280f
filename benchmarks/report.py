"""`python -m benchmarks.report`: the latest results (benchmarks/results/*.json) as one Markdown table,
with the machine and versions they were measured on (what the README's Performance section shows)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, Figure, Result, Stats, load_results, render_table, table_rows


def _stats(data: dict[str, Any] | None) -> Stats | None:
    return Stats(list(data["samples"])) if data else None


def result_from_json(data: dict[str, Any]) -> Result:
    result = Result(data["name"], data.get("title", ""), data.get("toy", False), error=data.get("error"))
    for fig in data.get("figures", []):
        result.add(
            Figure(
                fig["case"],
                fig["metric"],
                fig["unit"],
                _stats(fig["ours"]),
                _stats(fig["reference"]),
                fig["note"],
            )
        )
    result.skipped = list(data.get("skipped", []))
    result.notes = list(data.get("notes", []))
    return result


def render(results_dir: Path) -> str:
    found = load_results(results_dir)
    order = ["training", "triton_load", "adapters", "lambda", "demo", "gpu"]
    names = sorted(found, key=lambda n: (order.index(n) if n in order else len(order), n))
    results = [result_from_json(found[name]) for name in names]
    lines = [render_table(table_rows(results), markdown=True), ""]
    for name in names:
        env = found[name]["environment"]
        versions = env.get("versions", {})
        lines.append(
            f"- `{name}`: {found[name]['created']}, {env.get('cpu')} ×{env.get('cpu_count')}, "
            f"{env.get('memory_gib')} GiB, load {env.get('load_average_1m')}, "
            f"torch {versions.get('torch')}, diffusers {versions.get('diffusers')}, "
            f"peft {versions.get('peft')}, commit {env.get('git_commit')}, "
            f"{found[name].get('seconds')} s" + (" (toy)" if found[name].get("toy") else "")
        )
        lines += [f"  - {note}" for note in found[name].get("notes", [])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    sys.stdout.write(render(args.results_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
