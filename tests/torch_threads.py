"""Torch on one thread for tests that train or render: on a shared 2-core machine more threads only
contend. Conftests that want it import `one_torch_thread` (it is autouse within their folder)."""

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
