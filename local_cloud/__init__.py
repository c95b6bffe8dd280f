"""The local cloud: the whole product on one machine with no AWS account and no GPU (docs/design.md §8).

`python -m local_cloud up` / `down` start and stop it in the background; `LocalCloud()` embeds it
(tests, the demo). See docs/local-cloud.md. `LocalCloud` is imported on first use, so a light module of
this package (e.g. `local_cloud.serial_dynamodb`) imports without moto's server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from local_cloud.cloud import LocalCloud

__all__ = ["LocalCloud"]


def __getattr__(name: str) -> object:
    if name == "LocalCloud":
        from local_cloud.cloud import LocalCloud

        return LocalCloud
    raise AttributeError(f"module 'local_cloud' has no attribute {name!r}")
