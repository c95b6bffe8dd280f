"""Face screening (face_analysis, docs/faces.md) as the trainings function runs it: model load in a
fresh interpreter (the Lambda cold start's share), screening time per selfie at the client's size
(longest side 1024) on one core, the peak memory of a process screening a set, and the Lambda code
asset's size for each architecture. Lambda's CPU share grows with memory (one vCPU at 1,769 MB):
the per-size figures are this machine's one-core time scaled by that share, not Lambda measurements.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import REPO_ROOT, Figure, Result, Stats

NAME = "faces"
ONE_VCPU_MB = 1769
LAMBDA_MEMORY_MB = (1024, 2048, 3008)  # 2048: the trainings function (stacks/api.py)
LOAD_SNIPPET = (
    "import time; t = time.perf_counter(); from face_analysis.models import models; models(); "
    "print(time.perf_counter() - t)"
)
RSS_SNIPPET = (
    "import sys; from benchmarks.bench_faces import selfie_set; from benchmarks.common import peak_rss_mib; "
    "from face_analysis.screening import screen; screen(selfie_set(int(sys.argv[1]))); print(peak_rss_mib())"
)  # VmHWM, not ru_maxrss: the latter would report this benchmark process's own peak (common.py)


def selfie_set(count: int) -> dict:
    """`count` selfies of the astronaut at 1024 px (what the client sends), varied as a phone would."""
    from PIL import Image

    sys.path.insert(0, str(REPO_ROOT))
    from tests.fixtures.faces import astronaut, augment

    base = astronaut().resize((1024, 1024), Image.Resampling.LANCZOS)
    return augment(base, count, seed=0, prefix="selfie")


def _python(snippet: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", snippet, *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def _asset_mib(architecture_name: str) -> float:
    from aws_cdk import aws_lambda as lambda_

    from stacks.lambda_code import LocalPipBundling

    architecture = getattr(lambda_.Architecture, architecture_name)
    with tempfile.TemporaryDirectory() as out:
        LocalPipBundling(architecture).try_bundle(out, image=None)  # type: ignore[arg-type]
        return sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file()) / 2**20


def run(toy: bool) -> Result:
    from face_analysis.models import models
    from face_analysis.screening import screen

    count = 3 if toy else 20
    result = Result(NAME, "Face screening (the trainings function's share)", toy, settings={"selfies": count})
    loads = [float(_python(LOAD_SNIPPET)) for _ in range(1 if toy else 3)]
    result.add(Figure("model load", "cold start, fresh interpreter", "s", Stats(loads)))
    models()
    images = selfie_set(count)
    per_image = []
    for name, image in images.items():
        started = time.perf_counter()
        screen({name: image})
        per_image.append(time.perf_counter() - started)
    started = time.perf_counter()
    screening = screen(images)
    whole = time.perf_counter() - started
    result.add(Figure("screening", "per selfie (1024 px), this machine", "s", Stats(per_image)))
    result.add(Figure("screening", f"{count} selfies, this machine", "s", Stats([whole])))
    one_core = statistics.median(per_image)
    for memory in LAMBDA_MEMORY_MB:
        share = min(1.0, memory / ONE_VCPU_MB)
        result.add(
            Figure(
                f"Lambda {memory} MB",
                "per selfie, projected",
                "s",
                Stats([one_core / share]),
                note="one-core time / Lambda's CPU share (dlib screens one image at a time)",
            )
        )
    peak = float(_python(RSS_SNIPPET, str(count)))
    result.add(Figure("screening process", f"peak RSS, {count} selfies", "MiB", Stats([peak])))
    result.notes.append(f"{len(screening.usable)} of {count} selfies usable")
    if toy:
        result.skip("Lambda asset size", "bundles every wheel (tens of seconds); full size only")
    else:
        for arch in ("ARM_64", "X86_64"):
            result.add(Figure(f"Lambda asset {arch.lower()}", "unzipped", "MiB", Stats([_asset_mib(arch)])))
    return result
