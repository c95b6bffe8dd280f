"""Fixtures of the end-to-end tests: one local cloud per test module (tiny model, fast settings)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local_cloud import LocalCloud
from tests.e2e.helpers import NotificationInbox, running_cloud


@pytest.fixture(scope="module")
def cloud(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with running_cloud(tmp_path_factory.mktemp("local-cloud"), tiny_model_dir) as local_cloud:
        yield local_cloud


@pytest.fixture(scope="module")
def inbox(cloud: LocalCloud) -> NotificationInbox:
    return NotificationInbox(cloud)
