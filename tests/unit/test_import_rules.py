"""The import rules (`[tool.importlinter]` in pyproject.toml, run by `make lint`) fail on a violation: a
copy of the first-party packages' sources gets one violation of each contract, and `lint-imports` over
the copy, with the repository's own configuration, reports every contract broken. (`make lint` runs the
same command on the tree itself, where all of them hold.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = ["lambdas", "containers/training", "containers/hosting", "client"]
PACKAGES = [
    "avatar_contract", "avatar_runtime", "lambdas/avatar_api", "containers/training/training_service",
    "containers/hosting/hosting_server", "local_cloud", "benchmarks", "stacks", "random_sd",
    "base_model_staging", "face_analysis", "images", "locks", "webui", "client/avatar_client",
]  # fmt: skip
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# One violation per contract: (file, line appended to it, the contract's name in the report).
VIOLATIONS = [
    ("avatar_contract/names.py", "import face_analysis", "avatar_contract (the contract) imports no other"),
    ("lambdas/avatar_api/adapters/records.py", "import local_cloud", "the Lambda code imports no container"),
    ("lambdas/avatar_api/domain/models.py", "import avatar_api.routers", "avatar_api: handlers -> routers"),
    ("local_cloud/settings.py", "import local_cloud.cloud", "no import cycles"),
    ("containers/hosting/hosting_server/gate.py", "import training_service", "the Lambda code and the two"),
    ("stacks/config_names.py", "import local_cloud", "containers, shared runtime, stacks"),
]


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(tree / p) for p in PYTHONPATH)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed in this environment")
def test_each_import_rule_fails_on_a_violation(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            tree / package,
            ignore=lambda folder, names: [
                n for n in names if not n.endswith(".py") and not (Path(folder) / n).is_dir()
            ],
        )
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    for file, line, _contract in VIOLATIONS:
        with (tree / file).open("a") as handle:
            handle.write(f"\n{line}  # noqa\n")
    result = _lint(tree)
    report = result.stdout + result.stderr
    assert result.returncode != 0, report
    for _file, _line, contract in VIOLATIONS:
        line = rf"^{re.escape(contract)}.* (KEPT|BROKEN)( \(\d+ ignored imports?\))?$"
        verdict = re.search(line, report, re.MULTILINE)
        assert verdict and verdict.group(1) == "BROKEN", f"{contract!r} not broken:\n{report}"
    assert "KEPT" not in report
