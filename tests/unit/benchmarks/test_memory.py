"""Peak memory is each measured process's own: a child started by a process that has used a lot of memory
does not report its parent's high-water mark (Linux carries `ru_maxrss` across exec), and a process can
start its mark again to measure one phase."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks.common import REPO_ROOT, peak_rss_mib

PARENT_MIB = 500
CHILD_MIB = 20

# The child: allocate and touch CHILD_MIB, report the helper's peak.
CHILD = (
    "from benchmarks.common import peak_rss_mib; "
    f"held = b'\\x01' * ({CHILD_MIB} * 2**20); print(peak_rss_mib())"
)
# The parent: allocate and touch PARENT_MIB (kept while the child runs), then start the child as the
# benchmarks do (subprocess, a fresh interpreter) and print what it reported.
PARENT = (
    "import subprocess, sys; "
    f"held = b'\\x01' * ({PARENT_MIB} * 2**20); "
    "child = subprocess.run([sys.executable, '-c', sys.argv[1]], capture_output=True, text=True, "
    "check=True); "
    "print(child.stdout.split()[-1])"
)
# Allocate and free a lot, start the mark again, report (peak before, peak after, whether it reset).
PHASE = (
    "import json; from benchmarks.common import peak_rss_mib, reset_peak_rss; "
    f"held = b'\\x01' * ({PARENT_MIB} * 2**20); del held; before = peak_rss_mib(); "
    "reset = reset_peak_rss(); print(json.dumps([before, peak_rss_mib(), reset]))"
)


def _python(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip().splitlines()[-1]


def test_a_child_reports_its_own_peak_not_its_parents() -> None:
    child_peak = float(_python("-c", PARENT, CHILD))
    # An interpreter with the child's 20 MiB is a few tens of MiB; the parent's 500 MiB must not show.
    assert CHILD_MIB <= child_peak < PARENT_MIB / 4, child_peak


def test_reset_starts_the_mark_again_from_the_current_rss() -> None:
    before, after, reset = json.loads(_python("-c", PHASE))
    if not reset:
        pytest.skip("this kernel refuses /proc/self/clear_refs")
    assert before >= PARENT_MIB
    assert after < PARENT_MIB / 4, after


def test_peak_of_this_process_covers_what_it_holds() -> None:
    held = b"\x01" * (64 * 2**20)
    assert peak_rss_mib() >= 64 + 1
    del held
