"""`make locks` and `make check-locks`: generate every environment's hash-pinned lock, or check that each
lock still matches its top-level pins (offline, in `make lint`).

    python -m locks [--uv PATH]      # resolve every lock (needs the package index)
    python -m locks --check          # fail when a pin was edited (or a file added) without relocking

Each lock carries the SHA-256 of its inputs (its requirements files, its constraints, the options and the
EXCLUDE_NEWER date); `--check` recomputes it from the files as they are. An existing lock is the
resolver's preference, so relocking with no input change leaves every lock unchanged; a new release on
the index changes nothing until EXCLUDE_NEWER moves (docs/development.md#locks).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

from locks.environments import (
    DEPLOYED_PYTHON,
    ENVIRONMENTS,
    EXCLUDE_NEWER,
    IMAGES,
    LINUX_X86_64,
    REPO_ROOT,
    TORCH_CPU_WHEELS,
    Environment,
    constraints,
    environment,
    normalize,
    read_pins,
    requirement_files,
    standin_lock_path,
)

WORK_DIR = Path(".images/locks")  # derived inputs; the locks' `# via -c ...` annotations name it
CPU_TORCH = "torch==2.13.0+cpu"
_DIGEST = re.compile(r"^#\s+inputs: sha256:([0-9a-f]{64})$", re.MULTILINE)
_EDITABLE = re.compile(r"^\s*-e\s+(\S+)", re.MULTILINE)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def inputs_digest(env: Environment, root: Path = REPO_ROOT) -> str:
    """What a lock was resolved from: its requirements files (and editable projects' pyproject.toml),
    its constraints, the options and EXCLUDE_NEWER."""
    texts = []
    for path in requirement_files(env.requirements, root):
        text = (root / path).read_text()
        texts.append(text)
        for editable in _EDITABLE.findall(text):
            texts.append((root / editable / "pyproject.toml").read_text())  # pip: relative to the cwd
    options = [
        env.python,
        env.platform or "universal",
        *env.options,
        f"cpu_torch={env.cpu_torch}",
        EXCLUDE_NEWER,
    ]
    return _digest(*texts, *constraints(env, root), *options)


def standin_digest(image: str, root: Path = REPO_ROOT) -> str:
    return _digest((root / environment(image).lock).read_text(), CPU_TORCH, EXCLUDE_NEWER)


def recorded_digest(lock: Path, root: Path = REPO_ROOT) -> str | None:
    path = root / lock
    match = _DIGEST.search(path.read_text()) if path.is_file() else None
    return match[1] if match else None


def _stamp(lock: Path, digest: str) -> None:
    """Put the inputs' digest under uv's header (the first two comment lines)."""
    path = REPO_ROOT / lock
    lines = [line for line in path.read_text().splitlines() if not _DIGEST.match(line)]
    lines.insert(2, f"#    inputs: sha256:{digest}")
    path.write_text("\n".join(lines) + "\n")


def _uv(uv: str, *args: str) -> None:
    command = [uv, "pip", "compile", "--quiet", "--generate-hashes", "--custom-compile-command", "make locks"]
    subprocess.run([*command, "--exclude-newer", EXCLUDE_NEWER, *args], cwd=REPO_ROOT, check=True)


def compile_lock(env: Environment, uv: str, torch_wheels: str) -> None:
    args = [
        str(env.requirements),
        "--python-version",
        env.python,
        *env.options,
        "--output-file",
        str(env.lock),
    ]
    args += ["--python-platform", env.platform] if env.platform else ["--universal"]
    args += ["--find-links", torch_wheels] if env.cpu_torch else []
    if env.constrained_by:
        pins = WORK_DIR / f"{env.name}-constraints.txt"
        (REPO_ROOT / pins).write_text("\n".join(constraints(env)) + "\n")
        args += ["--constraint", str(pins)]
    _uv(uv, *args)
    _stamp(env.lock, inputs_digest(env))


def compile_standin_lock(image: str, uv: str, torch_wheels: str) -> None:
    """The image lock's versions for Python 3.11 / Linux x86_64 with the CPU torch wheel."""
    env = environment(image)
    requirements = WORK_DIR / f"{image}-standin.in"
    lines = [CPU_TORCH if n == "torch" else f"{n}=={v}" for n, v in read_pins(env.requirements).items()]
    (REPO_ROOT / requirements).write_text("\n".join(lines) + "\n")
    pins = WORK_DIR / f"{image}-lock-pins.txt"
    locked = read_pins(env.lock)
    (REPO_ROOT / pins).write_text(
        "\n".join(f"{n}=={v}" for n, v in sorted(locked.items()) if n != "torch") + "\n"
    )
    output = standin_lock_path(image)
    _uv(uv, str(requirements), "--constraint", str(pins), "--find-links", torch_wheels,
        "--python-version", "3.11", "--python-platform", LINUX_X86_64, "--no-annotate",
        "--output-file", str(output))  # fmt: skip
    _stamp(output, standin_digest(image))


def check_deployed_platform(image: str, uv: str) -> None:
    """The image lock's versions resolve, wheels only, for the deployed CPython 3.12 on manylinux x86_64."""
    lock = environment(image).lock
    entries = [line.rstrip(" \\") for line in (REPO_ROOT / lock).read_text().splitlines()]
    pins = [line for line in entries if re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*==", line)]
    source, output = WORK_DIR / f"{image}-deployed.in", WORK_DIR / f"{image}-deployed.txt"
    (REPO_ROOT / source).write_text("\n".join(pins) + "\n")
    _uv(uv, str(source), "--python-version", DEPLOYED_PYTHON, "--python-platform", LINUX_X86_64,
        "--only-binary", ":all:", "--no-annotate", "--output-file", str(output))  # fmt: skip
    resolved, locked = read_pins(output), read_pins(lock)
    unmarked = {normalize(line.split("==")[0]) for line in pins if ";" not in line}
    wrong = {n: (v, locked.get(n)) for n, v in resolved.items() if locked.get(n) != v}
    missing = unmarked - set(resolved)
    if wrong or missing:
        raise SystemExit(f"{lock} does not install on Python {DEPLOYED_PYTHON}: {wrong} {missing}")


def stale_locks(root: Path = REPO_ROOT) -> list[str]:
    """Why each stale lock is stale; empty when every lock matches its inputs."""
    problems = []
    for env in ENVIRONMENTS:
        if recorded_digest(env.lock, root) != inputs_digest(env, root):
            problems.append(f"{env.lock}: its inputs changed ({env.requirements} or its constraints)")
        locked = read_pins(env.lock, root) if (root / env.lock).is_file() else {}
        for name, version in read_pins(env.requirements, root).items():
            if locked.get(name, "").split("+")[0] != version.split("+")[0]:
                problems.append(f"{env.lock}: {name}=={version} is pinned, the lock has {locked.get(name)}")
    for image in IMAGES:
        if recorded_digest(standin_lock_path(image), root) != standin_digest(image, root):
            problems.append(f"{standin_lock_path(image)}: out of step with {environment(image).lock}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--uv", default=shutil.which("uv") or "uv", help="the uv binary")
    parser.add_argument("--torch-wheels", default=TORCH_CPU_WHEELS, help="where the CPU torch wheel lies")
    parser.add_argument("--check", action="store_true", help="only check that every lock is current")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale_locks()
        for problem in problems:
            print(f"locks: {problem}", file=sys.stderr)
        if problems:
            print("locks: run `make locks` and commit the result", file=sys.stderr)
        return 1 if problems else 0
    (REPO_ROOT / WORK_DIR).mkdir(parents=True, exist_ok=True)
    for env in ENVIRONMENTS:
        compile_lock(env, args.uv, args.torch_wheels)
        print(f"locks: {env.lock} ({env.installs})", flush=True)
    for image in IMAGES:
        compile_standin_lock(image, args.uv, args.torch_wheels)
        check_deployed_platform(image, args.uv)
        print(
            f"locks: {standin_lock_path(image)}; {environment(image).lock} installs on CPython 3.12",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
