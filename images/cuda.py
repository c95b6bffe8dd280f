"""`make images-cuda`: both images built from their real Dockerfiles with their real locks (CUDA torch).

    python -m images.cuda [--cache DIR] [--image training|hosting ...]

Proof that what deploys installs: the image locks (containers/<image>/requirements.lock, the Dockerfiles'
default LOCK: the CUDA 13 torch wheel and its nvidia-*/cuda-* wheels, about 3 GB) installed with the
Dockerfiles' own `pip install --no-deps --require-hashes` on the Ubuntu 24.04 stand-ins (standin.NOBLE:
CPython 3.12, the deployed Python), the tarfile check passing with no waiver, then
`import torch, diffusers, peft, transformers` run inside each image, which must report the locked versions
and torch's CUDA major. The cp312 manylinux wheels are downloaded once into <cache>/wheels-cp312 (hashes
checked) and mounted read-only into the builds (WHEELS), so a second run downloads nothing. No GPU needed.
Figures (seconds, sizes, what each image reported) go to <cache>/cuda-report.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from images import buildah as bh
from images.build import bud_command, download_wheels, run_bud
from images.standin import NOBLE, ensure_standins
from locks.environments import DEPLOYED_PYTHON, IMAGES, REPO_ROOT, lock_path, read_pins

WHEELS_DIR = "wheels-cp312"
# The wheels must install on both deployed bases: the DLC's Ubuntu 22.04 (glibc 2.35) and the Triton
# image's Ubuntu 24.04 (glibc 2.39); manylinux tags up to the older of the two.
DEPLOYED_GLIBC_MINOR = 35
CHECKED_MODULES = ("torch", "diffusers", "peft", "transformers")
IMPORT_CHECK = (
    f"import json, {', '.join(CHECKED_MODULES)}; "
    f"print(json.dumps({{m.__name__: m.__version__ for m in ({', '.join(CHECKED_MODULES)})}}"
    " | {'cuda': torch.version.cuda}))"
)
CUDA_RUNTIME = "nvidia-cuda-runtime"  # the locked CUDA runtime wheel: its major is torch's CUDA


def tag(image: str) -> str:
    return f"localhost/avatar/{image}:cuda"


def platform_options(glibc_minor: int = DEPLOYED_GLIBC_MINOR) -> tuple[str, ...]:
    """pip's options for CPython 3.12 wheels of manylinux x86_64 up to glibc 2.<glibc_minor> (pip expands
    only the legacy manylinux aliases itself, so every manylinux_2_N tag is named)."""
    abi = "cp" + DEPLOYED_PYTHON.replace(".", "")
    options = ["--python-version", DEPLOYED_PYTHON, "--implementation", "cp", "--abi", abi]
    tags = [f"manylinux_2_{minor}_x86_64" for minor in range(glibc_minor, 4, -1)]
    tags += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
    for platform in tags:
        options += ["--platform", platform]
    return tuple(options)


def wheelhouse(image: str, cache: Path) -> Path:
    """The cp312 wheels of the image's real lock, shared by both images (torch and CUDA wheels once)."""
    return download_wheels(
        f"{image}-cuda", REPO_ROOT / lock_path(image), cache / WHEELS_DIR, platform_options()
    )


def build_command(image: str, base_image: str, wheels: Path) -> list[str]:
    """The real Dockerfile with its default LOCK (the image lock) and no tarfile waiver, as deployed."""
    return bud_command(image, tag(image), base_image, wheels, lock=None, waiver="")


def expected(lock: dict[str, str]) -> dict[str, str]:
    """What IMPORT_CHECK must print for an image built from `lock` (pins by normalized name)."""
    wanted = {module: lock[module] for module in CHECKED_MODULES}
    return wanted | {"cuda": lock[CUDA_RUNTIME].split(".")[0]}


def mismatches(reported: dict[str, str | None], lock: dict[str, str]) -> list[str]:
    """Each way the imported packages differ from the lock: versions without their local label (PyPI's
    torch reports `2.13.0+cu130`), torch's CUDA by major version (None for a CPU build)."""
    found = []
    for name, want in expected(lock).items():
        got = reported.get(name)
        have = (got or "").split(".")[0] if name == "cuda" else (got or "").split("+")[0]
        if have != want:
            found.append(f"{name}: imported {got}, locked {want}")
    return found


def import_check(image_tag: str) -> dict[str, str | None]:
    """Run IMPORT_CHECK in a container of the image (no GPU: torch imports without one)."""
    container = bh.buildah("from", "--pull-never", image_tag).strip().splitlines()[-1]
    try:
        output = bh.buildah("run", "--isolation", bh.ISOLATION, container, "python3", "-c", IMPORT_CHECK)
    finally:
        bh.remove_container(container)
    reported: dict[str, str | None] = json.loads(output.strip().splitlines()[-1])
    return reported


@dataclass(frozen=True)
class Result:
    tag: str
    wheels_seconds: float  # the download (cold) or the stamp check (warm)
    build_seconds: float
    import_seconds: float
    size_bytes: int  # uncompressed: `du` of the image's root
    reported: dict[str, str | None]  # what IMPORT_CHECK printed
    problems: list[str]  # how that differs from the lock

    @property
    def ok(self) -> bool:
        return not self.problems


def build_and_check(image: str, base_image: str, cache: Path) -> Result:
    started = time.monotonic()
    wheels = wheelhouse(image, cache).resolve()
    downloaded = time.monotonic()
    run_bud(image, build_command(image, base_image, wheels))
    built = time.monotonic()
    reported = import_check(tag(image))
    checked = time.monotonic()
    problems = mismatches(reported, read_pins(lock_path(image)))
    wheels_s, build_s, import_s = (
        round(b - a, 1) for a, b in ((started, downloaded), (downloaded, built), (built, checked))
    )
    size = bh.image_size_bytes(tag(image))
    result = Result(tag(image), wheels_s, build_s, import_s, size, reported, problems)
    print(f"{'PASS' if result.ok else 'FAIL'} {image}: {json.dumps(reported)} {'; '.join(problems)}".rstrip())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cache", type=Path, default=REPO_ROOT / ".images", help="cache folder (ignored by git)"
    )
    parser.add_argument("--image", choices=IMAGES, action="append", help="only this image (repeatable)")
    args = parser.parse_args(argv)
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if missing:
        print(
            f"images-cuda: {', '.join(missing)} not found: apt-get install -y buildah debootstrap",
            file=sys.stderr,
        )
        return 2
    cache = args.cache.resolve()
    started = time.monotonic()
    standins = ensure_standins(cache, NOBLE)
    figures: dict[str, object] = {"standin_seconds": round(time.monotonic() - started, 1)}
    rebuilt = list(standins.built)
    print(f"images-cuda: stand-in bases ready in {figures['standin_seconds']}s (rebuilt: {rebuilt})")
    bases = {"training": standins.python, "hosting": standins.triton}
    results = {image: build_and_check(image, bases[image], cache) for image in args.image or IMAGES}
    for image, result in results.items():
        figures[image] = asdict(result)
        size = f"{result.size_bytes / 2**30:.2f} GiB uncompressed"
        timing = f"wheels {result.wheels_seconds}s, build {result.build_seconds}s"
        print(f"images-cuda: {result.tag}: {timing}, {size}")
    figures["seconds"] = round(time.monotonic() - started, 1)
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "cuda-report.json").write_text(json.dumps(figures, indent=2) + "\n")
    ok = all(result.ok for result in results.values())
    print(f"images-cuda: {'all passed' if ok else 'FAILED'} in {figures['seconds']}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
