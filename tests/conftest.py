"""Fixtures shared by every test layer, and the groups pytest-xdist keeps on one worker."""

from pathlib import Path, PurePosixPath
from typing import Any

import pytest

# The Lambda code's tests (handlers, contract, client: what the Lambda bundle carries). `make test` runs
# them once, on the Lambda runtime's Python (`make test-lambda`: `--lambda-tests=only` in .venv-lambda), and
# leaves them out of its main run (`--lambda-tests=exclude`); a plain `pytest` runs everything here.
LAMBDA_TESTS = (
    "tests/unit/api", "tests/integration/api", "tests/unit/client", "tests/integration/client",
    "tests/unit/test_contract.py",
)  # fmt: skip
# ... except these: they build their fixtures with the development environment (the CLIP tokenizer,
# safetensors, the local cloud's server), which the Lambda bundle does not carry, so the main run has them.
LAMBDA_TESTS_NEEDING_DEV_ENV = (
    "tests/unit/api/test_prompt_text.py", "tests/unit/api/test_republishing.py",
    "tests/integration/api/test_publisher.py", "tests/integration/api/test_republish.py",
)  # fmt: skip


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--lambda-tests",
        choices=("include", "exclude", "only"),
        default="include",
        help="the Lambda code's tests (LAMBDA_TESTS in tests/conftest.py): with the rest, without, or alone",
    )


def _lambda_test(path: PurePosixPath) -> bool:
    def within(tops: tuple[str, ...]) -> bool:
        return any(path == PurePosixPath(top) or PurePosixPath(top) in path.parents for top in tops)

    return within(LAMBDA_TESTS) and not within(LAMBDA_TESTS_NEEDING_DEV_ENV)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    mode = config.getoption("lambda_tests")
    if mode == "include":
        return None
    try:
        path = PurePosixPath(collection_path.relative_to(config.rootpath).as_posix())
    except ValueError:
        return None
    if mode == "exclude":  # a folder on the way down to a test that needs the development environment stays
        on_the_way = any(path in PurePosixPath(keep).parents for keep in LAMBDA_TESTS_NEEDING_DEV_ENV)
        return True if _lambda_test(path) and not on_the_way else None
    above = any(path in PurePosixPath(top).parents for top in LAMBDA_TESTS)
    return None if above or _lambda_test(path) else True


# Session fixtures too costly to build on both workers: the tests that use one run on one worker.
SHARED_GROUPS = {
    "shared_cloud": "local-cloud",  # tests/e2e/conftest.py: the session's local cloud
    "synth": "synth",  # tests/infrastructure/conftest.py: the CDK app's synth
    "variant": "synth",
}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's worker names each test's group
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`--dist loadgroup` (make test): each module stays on one worker, so a module-scoped fixture (a local
    cloud, a Triton server, a training) is built once; the users of a costly session fixture are one group."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        names = getattr(item, "fixturenames", ())
        group = next((g for name, g in SHARED_GROUPS.items() if name in names), None)
        item.add_marker(pytest.mark.xdist_group(group or item.nodeid.split("::", 1)[0]))


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: the controller has each worker's test ids
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """pytest-xdist schedules `--dist loadgroup` by the `@group` suffix its worker adds to each test id. A
    pytest whose ids it cannot rename (9.2 with xdist 3.8) drops the suffix without a word and every test
    is scheduled alone, so a module's local cloud boots on both workers: stop the run instead."""
    ungrouped = [nodeid for nodeid in ids if "@" not in nodeid]
    if node.config.getvalue("dist") == "loadgroup" and ungrouped:
        pytest.exit(
            f"--dist loadgroup: pytest-xdist did not group {ungrouped[0]} (and {len(ungrouped) - 1} more): "
            "pytest and pytest-xdist at versions that do not work together (see requirements-dev.txt)",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random-weight SD 2.x pipeline, built once per test session (about 0.2 s)."""
    from random_sd import ensure_tiny_pipeline  # torch: imported only where a test needs the model

    return ensure_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="session")
def tiny_sdxl_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random-weight SDXL pipeline (two text encoders, "text_time" UNet), built once per session."""
    from random_sd import ensure_tiny_sdxl_pipeline

    return ensure_tiny_sdxl_pipeline(tmp_path_factory.mktemp("tiny-sdxl"))


@pytest.fixture(scope="session", params=["sd21-base", "sdxl-base-1.0"])
def tiny_family_model_dir(request: pytest.FixtureRequest) -> Path:
    """The tiny pipeline of each base-model family in turn (tests parametrized over the families)."""
    fixture = "tiny_sdxl_model_dir" if request.param == "sdxl-base-1.0" else "tiny_model_dir"
    return request.getfixturevalue(fixture)


@pytest.fixture(scope="session")
def tiny_fp16_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline saved the way the default manifest stages SD 2.1-base: only the fp16 variants of
    the weight files (`*.fp16.safetensors`), no full-precision ones."""
    import torch
    from diffusers import StableDiffusionPipeline

    out = tmp_path_factory.mktemp("tiny-sd-fp16")
    pipe = StableDiffusionPipeline.from_pretrained(tiny_model_dir, dtype=torch.float16, safety_checker=None)
    pipe.save_pretrained(out, variant="fp16", safe_serialization=True)
    return out
