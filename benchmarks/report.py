"""`python -m benchmarks.report`: the latest results (benchmarks/results/*.json) as one Markdown table,
with the machine and versions they were measured on (what docs/performance.md shows)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import (
    REPO_ROOT,
    RESULTS_DIR,
    Figure,
    Result,
    Stats,
    load_results,
    render_table,
    table_rows,
)

PERFORMANCE_MD = REPO_ROOT / "docs" / "performance.md"


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
    order = ["training", "triton_load", "adapters", "lambda", "demo", "local_cloud", "gpu"]
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


PERFORMANCE_INTRO = """## Performance

Measured with `make bench` (`python -m benchmarks`) on this repository's development machine: 2 shared
CPU cores (AMD EPYC), 24 GiB, no GPU, random-weight pipelines built in code (the tiny SD 2.x model, and
the full-size SD 2.1-base architecture with fp16 weights on disk). Each comparison is a ratio
*reference design / ours* measured in the same run (> 1: ours is faster or smaller), the median of the
repeats with min–max in brackets; `n` is the number of repeats. The reference design is rebuilt in
`benchmarks/`: a per-user Triton model that loads the whole pipeline itself
([design §3](design.md#3-the-reference-sample-and-where-we-differ)) and a plain
diffusers + peft DreamBooth-LoRA loop with the same settings as the training service. What each
benchmark does and how: [`benchmarks/README.md`](../benchmarks/README.md).
"""

PERFORMANCE_HOWTO = """### Reproduce

```bash
make bench                                   # everything (< 15 min on 2 idle cores): table + results/*.json
.venv/bin/python -m benchmarks --only training,triton_load   # some of them
.venv/bin/python -m benchmarks --only families               # SD 2.1 and SDXL side by side (below)
.venv/bin/python -m benchmarks --no-full-size                # skip the full-size architecture (minutes less)
.venv/bin/python -m benchmarks --toy                         # toy size, seconds (what the tests run)
.venv/bin/python -m benchmarks.report                        # the latest results as Markdown
make bench-gpu                                               # on a GPU machine (see below)
```

Every results file records the machine, load average, versions, git commit and settings. The machine is
shared and noisy: compare ratios, not absolute seconds.

### GPU

`make bench-gpu` (`python -m benchmarks.gpu`) measures, for each base family (SD 2.1-base and SDXL 1.0,
`--family` picks one) on its full-size architecture in bf16/fp16: training seconds/step at the family's
native resolution (512 / 1024 px) with its default config and the projected time for its default step
count, 30-step generation at that size with and without an active LoRA, adapter cold load and warm
switch, GPU memory of the base and per resident adapter, and how many adapters fit beside the base in
24 GB.
**It has not been run on a GPU**: none was available to this work (its code runs on CPU at toy size in
the tests). Until it is run, the GPU figures in the cost model are labelled estimates.
"""


def performance_sections(results_dir: Path, cost_md: Path) -> dict[str, str]:
    """docs/performance.md's `performance` and `cost` sections, from the latest results and cost model."""
    table = render(results_dir)
    performance = PERFORMANCE_INTRO + "\n### Latest figures\n\n" + table + "\n" + PERFORMANCE_HOWTO
    text = cost_md.read_text()
    headline = text[text.index("## Headline") : text.index("## How each figure is computed")]
    headline = headline.replace("## Headline", "").replace(
        "## Scaling (per month)", "### Scaling (per month)"
    )
    cost = (
        "## Cost\n\nFrom [`benchmarks/cost.md`](../benchmarks/cost.md), generated by `make bench` from the "
        "measured "
        "figures and public on-demand prices (us-east-1; sources, every assumption and how each figure is "
        "computed are listed there). No GPU was measured: GPU-time inputs are estimates until "
        "`make bench-gpu` runs.\n" + headline.rstrip() + "\n"
    )
    return {"performance": performance, "cost": cost}


def update_sections(page: Path, sections: dict[str, str]) -> None:
    """Rewrite what lies between each section's `<!-- BEGIN name -->` and `<!-- END name -->` in `page`."""
    text = page.read_text()
    for name, body in sections.items():
        begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
        if begin not in text or end not in text:
            raise ValueError(f"{page} has no {begin} ... {end} section")
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{body.rstrip()}\n{end}{tail}"
    page.write_text(text)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.cost import COST_MD

    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help="rewrite the performance and cost sections of docs/performance.md",
    )
    args = parser.parse_args(argv)
    if args.update_docs:
        update_sections(PERFORMANCE_MD, performance_sections(args.results_dir, COST_MD))
        print(f"{PERFORMANCE_MD.relative_to(REPO_ROOT)}: performance and cost sections updated")
    else:
        sys.stdout.write(render(args.results_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
