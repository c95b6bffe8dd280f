"""Fixtures shared by every test layer."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random-weight SD 2.x pipeline, built once per test session (about 0.2 s)."""
    from random_sd import ensure_tiny_pipeline  # torch: imported only where a test needs the model

    return ensure_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd"))
