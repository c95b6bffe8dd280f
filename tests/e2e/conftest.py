"""Fixtures of the end-to-end tests: ONE local cloud per test session (tiny model, fast settings), shared
by every module that asks for `cloud`, with fresh principals (new IAM users, so new owner ids) per module.

A module whose tests change the cloud itself (other container settings, killed containers, fewer loaded
models) overrides `cloud` with its own module-scoped `running_cloud(...)`; `inbox` follows whichever
`cloud` the module gets. Under pytest-xdist the tests on the shared cloud form one group (tests/conftest.py),
so the session boots it once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local_cloud import LocalCloud
from tests.e2e.helpers import NotificationInbox, running_cloud

# The shared cloud's inbox: it keeps every notification by training id, whichever module reads it first.
_SHARED_INBOXES: dict[int, NotificationInbox] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules with a cloud of their own run before the shared cloud starts (it then stays up until the
    session ends): never two clouds at once in one process."""
    here = Path(__file__).parent

    def shares(item: pytest.Item) -> bool:
        return here in item.path.parents and "shared_cloud" in getattr(item, "fixturenames", ())

    items.sort(key=shares)  # stable: the order within each part stays


@pytest.fixture(scope="session")
def shared_cloud(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with running_cloud(tmp_path_factory.mktemp("local-cloud"), tiny_model_dir) as local_cloud:
        _SHARED_INBOXES[id(local_cloud)] = NotificationInbox(local_cloud)
        yield local_cloud
        del _SHARED_INBOXES[id(local_cloud)]


@pytest.fixture(scope="module")
def cloud(shared_cloud: LocalCloud) -> LocalCloud:
    """The session's cloud, with this module's own two principals (`cloud.principals`)."""
    shared_cloud.renew_principals()
    return shared_cloud


@pytest.fixture(scope="module")
def inbox(cloud: LocalCloud) -> NotificationInbox:
    return _SHARED_INBOXES.get(id(cloud)) or NotificationInbox(cloud)
