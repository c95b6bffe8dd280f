"""`python -m benchmarks` (`make bench`): run every CPU benchmark, print the table, write
`benchmarks/results/<name>.json`, and regenerate the cost model from the figures.

    python -m benchmarks                 # everything, full size (< 15 minutes on 2 cores)
    python -m benchmarks --toy           # everything at toy size, in seconds (what the tests run)
    python -m benchmarks --only training,adapters
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import FULL_SIZE_ENV, RESULTS_DIR, Result, environment, render_table, table_rows

# Benchmark name -> its module in this package, whose `run(toy)` returns the `Result`.
MODULES = {
    "training": "bench_training",
    "triton_load": "bench_triton_load",
    "adapters": "bench_adapters",
    "lambda": "bench_lambda",
    "demo": "bench_demo",
    "local_cloud": "bench_local_cloud",
    "class_images": "bench_class_images",
    "moderation": "bench_moderation",
    "faces": "bench_faces",
    "families": "bench_families",
    "finishing": "bench_finishing",
    "packs": "bench_packs",
}


def registry() -> dict[str, Callable[[bool], Result]]:
    """Benchmark name -> run(toy). Imported lazily so `--only` pays only for what it runs."""

    def lazy(module: str) -> Callable[[bool], Result]:
        def run(toy: bool) -> Result:
            result: Result = importlib.import_module(f"benchmarks.{module}").run(toy)
            return result

        return run

    return {name: lazy(module) for name, module in MODULES.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="toy sizes: seconds, not minutes (tests)")
    parser.add_argument(
        "--no-full-size", action="store_true", help="skip the full-size SD 2.1 architecture cases"
    )
    parser.add_argument("--only", default="", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON files go")
    parser.add_argument(
        "--cost-out",
        type=Path,
        default=None,
        help="where the cost model goes (default: benchmarks/cost.md; with --toy, <results-dir>/cost.md)",
    )
    args = parser.parse_args(argv)

    benchmarks = registry()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(benchmarks)
    unknown = sorted(set(names) - set(benchmarks))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(benchmarks)}")

    if args.no_full_size:
        os.environ[FULL_SIZE_ENV] = "0"
    env = environment()
    results: list[Result] = []
    for name in names:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        before = environment()  # the machine's load as this benchmark started
        started = time.perf_counter()
        try:
            result = benchmarks[name](args.toy)
        except Exception as exc:
            result = Result(name, name, args.toy, error=f"{type(exc).__name__}: {exc}")
            traceback.print_exc()
        result.seconds = time.perf_counter() - started
        path = result.write(args.results_dir, before)
        print(f"[bench] {name}: {result.seconds:.1f} s -> {path}", file=sys.stderr, flush=True)
        results.append(result)

    from benchmarks import cost

    cost_out = args.cost_out or (args.results_dir / "cost.md" if args.toy else cost.COST_MD)
    cost.write_cost_model(args.results_dir, cost_out)
    print(f"[bench] cost model -> {cost_out}", file=sys.stderr)

    print(render_table(table_rows(results)))
    print(
        f"\nmachine: {env['cpu']} x{env['cpu_count']}, {env['memory_gib']} GiB, "
        f"load {env['load_average_1m']}; "
        f"torch {env['versions']['torch']}, diffusers {env['versions']['diffusers']}, "
        f"peft {env['versions']['peft']}; commit {env['git_commit']}"
    )
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
