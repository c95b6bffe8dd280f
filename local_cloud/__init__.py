"""The local cloud: the whole product on one machine with no AWS account and no GPU (docs/design.md §8).

`python -m local_cloud up` / `down` start and stop it in the background; `LocalCloud()` embeds it
(tests, the demo). See docs/local-cloud.md.
"""

from local_cloud.cloud import LocalCloud

__all__ = ["LocalCloud"]
