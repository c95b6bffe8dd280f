"""What every benchmark shares: the record of the machine, repeated measurements with their spread,
side-by-side figures with the ratio measured in the same run, the results file and the table.

Machines here are shared and noisy, so a figure is never one sample: each is the median of repeats with
the min–max shown, and each comparison is a ratio of two things measured in the same run (interleaved
where the benchmark allows), never a ratio against a number from another day.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
PACKAGES = (
    "torch",
    "diffusers",
    "peft",
    "transformers",
    "accelerate",
    "safetensors",
    "nvidia-pytriton",
    "aws-lambda-powertools",
    "boto3",
    "moto",
)


FULL_SIZE_ENV = "AVATAR_BENCH_FULL_SIZE"  # "0": skip the full-size cases (`--no-full-size`)


def full_size_enabled() -> bool:
    return os.environ.get(FULL_SIZE_ENV, "1") != "0"


@dataclass
class Stats:
    """Repeated samples of one quantity: the median is the figure, min–max the spread."""

    samples: list[float]

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)

    def quantile(self, q: float) -> float:
        """Nearest-rank quantile (q in 0..1), the usual definition for latency percentiles."""
        ordered = sorted(self.samples)
        rank = max(1, min(len(ordered), round(q * len(ordered) + 0.5)))
        return ordered[rank - 1]

    def to_json(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "n": self.n,
            "samples": [round(s, 6) for s in self.samples],
        }


def ratio_stats(reference: Stats, ours: Stats) -> Stats:
    """reference / ours. Paired by repeat when both have the same count (the repeats were interleaved,
    so each pair saw the same machine load); otherwise every reference sample over our median."""
    if reference.n == ours.n:
        pairs = zip(reference.samples, ours.samples, strict=True)
        return Stats([r / o if o else float("inf") for r, o in pairs])
    return Stats([r / ours.median if ours.median else float("inf") for r in reference.samples])


@dataclass
class Figure:
    """One line of the table: a metric of one case, ours beside the reference design's, and the ratio
    reference/ours (> 1 means ours is smaller/faster)."""

    case: str
    metric: str
    unit: str
    ours: Stats | None = None
    reference: Stats | None = None
    note: str = ""

    @property
    def ratio(self) -> Stats | None:
        if self.ours is None or self.reference is None:
            return None
        return ratio_stats(self.reference, self.ours)

    def to_json(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "case": self.case,
            "metric": self.metric,
            "unit": self.unit,
            "ours": self.ours.to_json() if self.ours else None,
            "reference": self.reference.to_json() if self.reference else None,
            "ratio_reference_over_ours": ratio.to_json() if ratio else None,
            "note": self.note,
        }


@dataclass
class Result:
    """Everything one benchmark measured, with the settings and machine that produced it."""

    name: str
    title: str
    toy: bool
    settings: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def skip(self, what: str, why: str) -> None:
        self.skipped.append({"what": what, "why": why})

    def to_json(self, environment: dict[str, Any]) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "name": self.name,
            "title": self.title,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "toy": self.toy,
            "seconds": round(self.seconds, 2),
            "environment": environment,
            "settings": self.settings,
            "figures": [f.to_json() for f in self.figures],
            "skipped": self.skipped,
            "notes": self.notes,
            "error": self.error,
        }

    def write(self, results_dir: Path, environment: dict[str, Any]) -> Path:
        results_dir.mkdir(parents=True, exist_ok=True)
        path = results_dir / f"{self.name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(environment), indent=2, sort_keys=False) + "\n")
        tmp.replace(path)
        return path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def environment() -> dict[str, Any]:
    """The machine, the versions and the load the figures were measured under."""
    import psutil

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": _torch_threads(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": None,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "git_commit": _git_commit(),
        "versions": versions,
    }


def _torch_threads() -> int | None:
    if "torch" not in sys.modules:
        return None
    import torch

    return torch.get_num_threads()


# Peak memory is the kernel's VmHWM of this process's own address space, not `ru_maxrss`. Linux keeps
# `ru_maxrss` in the process (its signal struct), and exec folds the old address space's high-water mark
# into it (fs/exec.c); a child's old address space is the benchmark process's (vfork) or a copy of it with
# its mark (fork), so every child reported at least its parent's peak (20 selfies "peaked" at 5,745 MiB
# under `make bench`, 196 MiB alone). `/usr/bin/env` in between changes nothing (exec again);
# only a small launcher that forks would. VmHWM needs no launcher: exec gives the process a new address
# space whose mark starts at zero, it is the same counter `ru_maxrss` is taken from otherwise, and
# `clear_refs` can reset it, so one process can measure one phase (`reset_peak_rss`).
PROC_STATUS = Path("/proc/self/status")
PROC_CLEAR_REFS = Path("/proc/self/clear_refs")


def _proc_status_mib(field: str) -> float:
    try:
        text = PROC_STATUS.read_text()
    except OSError as error:
        raise RuntimeError(f"peak memory needs Linux's {PROC_STATUS} ({error})") from error
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # "VmHWM:    123456 kB"
    raise RuntimeError(f"{PROC_STATUS} has no {field} line")


def peak_rss_mib() -> float:
    """This process's resident-set high-water mark since it started (its exec) or since the last
    `reset_peak_rss()`, in MiB; never the parent's (see above)."""
    return _proc_status_mib("VmHWM")


def reset_peak_rss() -> bool:
    """Start this process's high-water mark again from its current RSS (Linux >= 4.0, `clear_refs` 5).
    False where the kernel refuses it: the peak then counts from the process's start."""
    try:
        PROC_CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def tree_rss_mib(pid: int) -> float:
    """Current resident memory of a process and all its descendants (e.g. Triton and its Python
    backend stubs, one process per model instance)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def repeat_timed(call: Callable[[], Any], count: int) -> list[float]:
    """Seconds of each of `count` successive calls of `call`."""
    return [timed(call)[0] for _ in range(count)]


def run_json_subprocess(
    module: str, payload: dict[str, Any], timeout: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run `python -m module` in a fresh interpreter with `payload` as JSON on stdin; its last stdout
    line is its JSON answer. A fresh process per case keeps memory high-water marks from mixing."""
    proc = subprocess.run(
        [sys.executable, "-m", module],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": product_pythonpath(), **(env or {})},
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout)[-3000:]
        raise RuntimeError(f"{module} exited {proc.returncode}: {tail}")
    return json.loads(lines[-1])


def product_pythonpath() -> str:
    """PYTHONPATH for a child interpreter: the product's package folders, then whatever was set."""
    from benchmarks import PRODUCT_PATHS

    return os.pathsep.join([*(str(p) for p in PRODUCT_PATHS), *filter(None, [os.environ.get("PYTHONPATH")])])


def fmt_number(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    if magnitude >= 0.01:
        return f"{value:.3f}"
    return f"{value:.2g}"


def fmt_stats(stats: Stats | None, suffix: str = "") -> str:
    if stats is None:
        return "—"
    if stats.n == 1 or stats.low == stats.high:
        return f"{fmt_number(stats.median)}{suffix} (n={stats.n})"
    return (
        f"{fmt_number(stats.median)}{suffix} [{fmt_number(stats.low)}–{fmt_number(stats.high)}] (n={stats.n})"
    )


def table_rows(results: Iterable[Result]) -> list[list[str]]:
    rows = [["benchmark", "case", "metric", "ours", "reference design", "ratio ref/ours"]]
    for result in results:
        if result.error:
            rows.append([result.name, "ERROR", result.error.splitlines()[0][:90], "", "", ""])
        for fig in result.figures:
            rows.append(
                [
                    result.name,
                    fig.case,
                    f"{fig.metric} ({fig.unit})",
                    fmt_stats(fig.ours),
                    fmt_stats(fig.reference),
                    fmt_stats(fig.ratio, "x"),
                ]
            )
        for skip in result.skipped:
            rows.append([result.name, skip["what"], "not measured: " + skip["why"][:80], "", "", ""])
    return rows


def render_table(rows: Sequence[Sequence[str]], markdown: bool = False) -> str:
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows[1:]]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for index, row in enumerate(rows):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown_section(heading: str, text: str, table: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a generated page's `## heading` section: a paragraph, then a markdown table whose first
    row is the header."""
    return [f"## {heading}", "", text, "", render_table(table, markdown=True)]


def load_results(results_dir: Path = RESULTS_DIR) -> dict[str, dict[str, Any]]:
    """Every results file in a folder, by benchmark name."""
    found = {}
    for path in sorted(results_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        found[data.get("name", path.stem)] = data
    return found
