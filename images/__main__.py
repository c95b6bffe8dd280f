"""`make images`: stand-in bases, both images built from their Dockerfiles, both smoke-run; figures saved.

    python -m images [--cache DIR] [--no-smoke] [--family sd21-base|sdxl-base-1.0 ...]

Prints PASS/FAIL per check and a summary (build seconds, uncompressed sizes, smoke seconds); writes the
same figures to <cache>/report.json. Exits non-zero when anything failed. The smoke run trains and serves
each base family's tiny random-weight pipeline in the same built images (default: every family).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from avatar_contract.families import FamilyName
from images import buildah as bh
from images.build import STANDIN_TARFILE_WAIVER, build
from images.standin import ensure_standins
from locks.environments import REPO_ROOT

TOOLS = ("buildah", "debootstrap")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cache", type=Path, default=REPO_ROOT / ".images", help="cache folder (ignored by git)"
    )
    parser.add_argument("--no-smoke", action="store_true", help="build only")
    parser.add_argument(
        "--family",
        action="append",
        type=FamilyName,
        choices=list(FamilyName),
        help="smoke-run only this base family (repeatable; default: every family)",
    )
    args = parser.parse_args(argv)
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        print(
            f"images: {', '.join(missing)} not found: apt-get install -y buildah debootstrap", file=sys.stderr
        )
        return 2
    cache = args.cache.resolve()
    figures: dict[str, object] = {}
    started = time.monotonic()
    standins = ensure_standins(cache)
    figures["standin_seconds"] = round(time.monotonic() - started, 1)
    figures["standins_rebuilt"] = list(standins.built)
    print(f"images: stand-in bases ready in {figures['standin_seconds']}s (rebuilt: {list(standins.built)})")
    tags = {}
    for image, base in (("training", standins.python), ("hosting", standins.triton)):
        built = build(image, base, cache)
        tags[image] = built.tag
        figures[f"{image}_build_seconds"] = round(built.seconds, 1)
        figures[f"{image}_size_bytes"] = built.size_bytes
        size = f"{built.size_bytes / 2**30:.2f} GiB uncompressed"
        print(f"images: built {built.tag} in {built.seconds:.1f}s, {size}")
    for name in (standins.python, standins.triton):
        figures[f"size_bytes[{name}]"] = bh.image_size_bytes(name)
    ok = True
    if not args.no_smoke:
        from images.smoke import smoke
        from random_sd import ensure_tiny_pipeline, ensure_tiny_sdxl_pipeline  # torch: only for the smoke run

        started = time.monotonic()
        tiny = {
            FamilyName.SD21_BASE: ensure_tiny_pipeline,
            FamilyName.SDXL_BASE_1_0: ensure_tiny_sdxl_pipeline,
        }
        pipelines = {family: tiny[family](cache / "tiny-sd") for family in args.family or list(FamilyName)}
        report = smoke(tags["training"], tags["hosting"], pipelines, cache / "logs", STANDIN_TARFILE_WAIVER)
        figures["smoke_seconds"] = round(time.monotonic() - started, 1)
        figures["checks"] = [
            {"name": c.name, "ok": c.ok, "seconds": round(c.seconds, 1)} for c in report.checks
        ]
        ok = report.ok
        passed = sum(c.ok for c in report.checks)
        print(f"images: smoke run took {figures['smoke_seconds']}s")
    (cache / "report.json").write_text(json.dumps(figures, indent=2) + "\n")
    if not args.no_smoke:
        print(f"images: {passed} passed, {len(report.checks) - passed} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
