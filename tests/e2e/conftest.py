"""Fixtures of the end-to-end tests: one local cloud per test module (tiny model, fast settings)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local_cloud import LocalCloud
from tests.e2e.helpers import FAST_CONTAINER_ENV, NotificationInbox, assert_stopped_cleanly


@pytest.fixture(scope="module")
def cloud(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with LocalCloud(
        state_dir=tmp_path_factory.mktemp("local-cloud"),
        base_model_dir=tiny_model_dir,
        extra_container_env=FAST_CONTAINER_ENV,
    ) as local_cloud:
        yield local_cloud
        urls, pids = local_cloud.listening_urls(), local_cloud.child_pids()
    assert_stopped_cleanly(urls, pids)


@pytest.fixture(scope="module")
def inbox(cloud: LocalCloud) -> NotificationInbox:
    return NotificationInbox(cloud)
