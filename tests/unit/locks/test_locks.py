"""`make locks`' inputs and `locks --check`: what each lock is resolved from, and that a pin edited
without relocking is caught (offline; the committed locks are checked in tests/infrastructure)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from locks.__main__ import inputs_digest, stale_locks
from locks.environments import ENVIRONMENTS, REPO_ROOT, Environment, constraints, read_pins


def _env(**overrides: object) -> Environment:
    fields = {
        "name": "img",
        "requirements": Path("img/requirements.txt"),
        "lock": Path("img/requirements.lock"),
    }
    fields |= {"python": "3.11", "platform": None}
    return Environment(**(fields | overrides))  # type: ignore[arg-type]


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "requirements.txt").write_text("aws-cdk-lib==2.275.0\n")
    (tmp_path / "requirements-dev.txt").write_text(
        "# comment\n-r requirements.txt\ntorch==2.13.0\nNumPy==2.4.6  # why\n"
        "aws-lambda-powertools[all]==3.37.0\nmoto[server]>=5\n-e ./client\n"
    )
    (tmp_path / "requirements-dev.lock").write_text(
        "anyio==4.16.0 ; sys_platform != 'emscripten' \\\n    --hash=sha256:abc\n    # via httpx2\n"
        "numpy==2.4.6 \\\n    --hash=sha256:def\ntorch==2.13.0+cpu \\\n    --hash=sha256:012\n"
    )
    image = tmp_path / "img"
    image.mkdir()
    (image / "requirements.txt").write_text("torch==2.13.0\nnumpy==1.26.4\n")
    return tmp_path


def test_pins_follow_includes_normalise_names_and_drop_extras_and_ranges(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert read_pins(Path("requirements-dev.txt"), root) == {
        "aws-cdk-lib": "2.275.0",
        "torch": "2.13.0",
        "numpy": "2.4.6",
        "aws-lambda-powertools": "3.37.0",
    }


def test_lock_pins_with_markers_and_hashes_are_read(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert read_pins(Path("requirements-dev.lock"), root)["anyio"] == "4.16.0"


def test_an_environment_is_constrained_by_the_dev_lock_less_what_it_pins_itself(tmp_path: Path) -> None:
    """Transitive packages too (anyio): the cause of the drift that broke `make test` on a fresh clone."""
    root = _tree(tmp_path)
    assert constraints(_env(), root) == ["anyio==4.16.0"]


def test_the_inputs_digest_changes_with_a_pin_and_with_the_constraints(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    before = inputs_digest(_env(), root)
    assert inputs_digest(_env(), root) == before
    (root / "requirements-dev.lock").write_text("anyio==4.17.0 \\\n    --hash=sha256:abc\n")
    after_dev = inputs_digest(_env(), root)
    (root / "img" / "requirements.txt").write_text("torch==2.13.0\nnumpy==1.26.5\n")
    assert len({before, after_dev, inputs_digest(_env(), root)}) == 3


def test_every_environment_has_its_own_lock_and_a_known_constraint() -> None:
    names = [env.name for env in ENVIRONMENTS]
    assert len(set(names)) == len(names) and len({env.lock for env in ENVIRONMENTS}) == len(names)
    for index, env in enumerate(ENVIRONMENTS):
        assert set(env.constrained_by) <= set(names[:index]), f"{env.name} is locked before its constraints"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The lock inputs and locks of this checkout, copied (the check reads nothing else)."""
    for env in ENVIRONMENTS:
        for path in (env.requirements, env.lock):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO_ROOT / path, tmp_path / path)
    for path in ["requirements.txt", "pyproject.toml", "client/pyproject.toml",  # the editable projects
                 "images/standin/training.lock", "images/standin/hosting.lock",
                 "containers/hosting/triton-stub.txt"]:  # fmt: skip
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / path, tmp_path / path)
    return tmp_path


def test_the_committed_locks_are_current(checkout: Path) -> None:
    assert stale_locks(checkout) == []


def test_a_pin_edited_without_relocking_is_caught(checkout: Path) -> None:
    lambdas = checkout / "lambdas" / "requirements.txt"
    lambdas.write_text(lambdas.read_text().replace("pydantic==2.14.3", "pydantic==2.14.4"))
    problems = stale_locks(checkout)
    assert any("lambdas/requirements.lock: pydantic==2.14.4 is pinned" in p for p in problems), problems
    # the test environment includes the Lambda pins: its lock is stale too
    assert any(p.startswith("lambdas/requirements-test.lock: its inputs changed") for p in problems)


def test_a_relocked_development_lock_makes_every_lock_it_constrains_stale(checkout: Path) -> None:
    dev = checkout / "requirements-dev.lock"
    dev.write_text(dev.read_text().replace("idna==", "idna==0.0.1\nunused==", 1))
    stale = {p.split(":")[0] for p in stale_locks(checkout)}
    assert {
        "lambdas/requirements.lock",
        "webui/requirements.lock",
        "containers/training/requirements.lock",
    } <= stale
