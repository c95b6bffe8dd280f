"""`make locks`: one hash-pinned lock file per image, resolved from the same top-level pins as development.

For each image, `uv pip compile` resolves containers/<image>/requirements.txt with every other pin of
requirements-dev.txt (and requirements.txt) as a constraint, so a package shared by development and an
image gets the development version; `--universal --fork-strategy fewest` with Python 3.11 as the floor
picks one version per package that installs on the deployed Python 3.12 and on Python 3.11 (development
and the stand-in bases of `make images`) alike; each lock is then resolved again, wheels only, for
CPython 3.12 on manylinux x86_64, and must come out the same.

Each image also gets a stand-in lock (images/standin/<image>.lock) for `make images`: the same versions and
hashes, resolved for Python 3.11 on Linux x86_64 with the CPU build of torch 2.13.0 from a local wheel
folder, so without the CUDA wheels only CUDA torch needs (tests/infrastructure/test_image_locks.py checks
that it differs from the image lock in nothing else).

    python -m images.locks [--uv PATH] [--torch-wheels DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
IMAGES = ("training", "hosting")
DEV_REQUIREMENTS = Path("requirements-dev.txt")
STANDIN_DIR = Path("images/standin")
WORK_DIR = Path(".images/locks")
# Where the CPU build of torch lies on the project's machines (pip's find-links there; see docs/images.md).
DEFAULT_TORCH_WHEELS = Path(os.environ.get("AVATAR_TORCH_WHEELS", "/opt/wheels"))
CPU_TORCH = "torch==2.13.0+cpu"
FLOOR_PYTHON = "3.11"
DEPLOYED_PYTHON = "3.12"
STANDIN_PLATFORM = "x86_64-manylinux_2_28"

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;#\\]+)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements_path(image: str) -> Path:
    return Path("containers") / image / "requirements.txt"


def lock_path(image: str) -> Path:
    return Path("containers") / image / "requirements.lock"


def standin_lock_path(image: str) -> Path:
    return STANDIN_DIR / f"{image}.lock"


def read_pins(path: Path, root: Path = REPO_ROOT) -> dict[str, str]:
    """`name==version` pins of a requirements or lock file (following `-r` includes); name normalized."""
    pins: dict[str, str] = {}
    for line in (root / path).read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith(("-r ", "--requirement ")):
            pins.update(read_pins(path.parent / stripped.split(maxsplit=1)[1], root))
            continue
        match = _PIN.match(line)
        if match:
            pins[normalize(match[1])] = match[3]
    return pins


def dev_constraints(image: str, root: Path = REPO_ROOT) -> list[str]:
    """Development's pins, less the packages the image pins itself (it may differ only where documented)."""
    own = read_pins(requirements_path(image), root)
    dev = read_pins(DEV_REQUIREMENTS, root)
    return [f"{name}=={version}" for name, version in sorted(dev.items()) if name not in own]


def _uv(uv: str, *args: str) -> None:
    command = [uv, "pip", "compile", "--quiet", "--generate-hashes", "--custom-compile-command", "make locks"]
    subprocess.run([*command, *args], cwd=REPO_ROOT, check=True)


def compile_image_lock(image: str, uv: str, work: Path) -> Path:
    constraints = work / f"{image}-dev-pins.txt"
    (REPO_ROOT / constraints).write_text("\n".join(dev_constraints(image)) + "\n")
    output = lock_path(image)
    _uv(uv, str(requirements_path(image)), "--constraint", str(constraints), "--universal",
        "--fork-strategy", "fewest", "--python-version", FLOOR_PYTHON, "--no-strip-markers",
        "--output-file", str(output))  # fmt: skip
    return output


def compile_standin_lock(image: str, uv: str, torch_wheels: Path, work: Path) -> Path:
    """The image lock's versions for Python 3.11 / Linux x86_64 with the CPU torch wheel."""
    requirements = work / f"{image}-standin.in"
    pins = read_pins(requirements_path(image))
    lines = [CPU_TORCH if name == "torch" else f"{name}=={version}" for name, version in pins.items()]
    (REPO_ROOT / requirements).write_text("\n".join(lines) + "\n")
    constraints = work / f"{image}-lock-pins.txt"
    locked = read_pins(lock_path(image))
    pinned = "\n".join(f"{n}=={v}" for n, v in sorted(locked.items()) if n != "torch")
    (REPO_ROOT / constraints).write_text(pinned + "\n")
    output = standin_lock_path(image)
    (REPO_ROOT / output).parent.mkdir(parents=True, exist_ok=True)
    _uv(uv, str(requirements), "--constraint", str(constraints), "--find-links", str(torch_wheels),
        "--python-version", FLOOR_PYTHON, "--python-platform", STANDIN_PLATFORM, "--no-annotate",
        "--output-file", str(output))  # fmt: skip
    return output


def check_deployed_platform(image: str, uv: str, work: Path) -> None:
    """The locked versions resolve, wheels only, for the deployed CPython 3.12 on manylinux x86_64."""
    entries = [line.rstrip(" \\") for line in (REPO_ROOT / lock_path(image)).read_text().splitlines()]
    pins = [line for line in entries if _PIN.match(line)]
    source, output = work / f"{image}-deployed.in", work / f"{image}-deployed.txt"
    (REPO_ROOT / source).write_text("\n".join(pins) + "\n")
    _uv(uv, str(source), "--python-version", DEPLOYED_PYTHON, "--python-platform", STANDIN_PLATFORM,
        "--only-binary", ":all:", "--no-annotate", "--output-file", str(output))  # fmt: skip
    resolved, locked = read_pins(output), read_pins(lock_path(image))
    unmarked = {normalize(_PIN.match(line)[1]) for line in pins if ";" not in line}  # type: ignore[index]
    wrong = {n: (v, locked.get(n)) for n, v in resolved.items() if locked.get(n) != v}
    missing = unmarked - set(resolved)
    if wrong or missing:
        raise SystemExit(
            f"{lock_path(image)} does not install on Python {DEPLOYED_PYTHON}: {wrong} {missing}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--uv", default=shutil.which("uv") or "uv", help="the uv binary")
    parser.add_argument("--torch-wheels", type=Path, default=DEFAULT_TORCH_WHEELS)
    args = parser.parse_args(argv)
    # The derived inputs go to a fixed, ignored folder: the locks' `# via -c ...` annotations name it.
    work = WORK_DIR
    (REPO_ROOT / work).mkdir(parents=True, exist_ok=True)
    for image in IMAGES:
        print(f"locks: {compile_image_lock(image, args.uv, work)}", flush=True)
        print(f"locks: {compile_standin_lock(image, args.uv, args.torch_wheels, work)}", flush=True)
        check_deployed_platform(image, args.uv, work)
        print(
            f"locks: {lock_path(image)} installs on CPython {DEPLOYED_PYTHON} {STANDIN_PLATFORM}", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
