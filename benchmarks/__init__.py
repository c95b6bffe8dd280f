"""The product's speed, memory and cost, measured side by side with the reference design.

`python -m benchmarks` (`make bench`) runs the CPU benchmarks, `python -m benchmarks.gpu`
(`make bench-gpu`) the GPU ones, `python -m benchmarks.cost` regenerates `cost.md`. See README.md here.

The product's packages live in their own folders (`lambdas/`, `containers/training/`, ...), as in the
Lambda asset and the container images; importing `benchmarks` puts those folders on `sys.path` (the same
list as pytest's `pythonpath`) so the benchmarks import exactly the code that ships.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PRODUCT_PATHS = [
    REPO_ROOT / p for p in (".", "lambdas", "containers/training", "containers/hosting", "client")
]

for _path in reversed(PRODUCT_PATHS):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
