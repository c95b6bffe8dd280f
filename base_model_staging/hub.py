"""Before downloading from the Hub: does the Hub agree with the manifest at the pinned revision?

`huggingface_hub.HfApi.get_paths_info` gives, for each file at a commit, its size and, for a file stored in
LFS (every weight file), the SHA-256 of its content. Staging compares them with the manifest before it
downloads anything, and stops naming both values when one differs: a manifest that does not describe the
pinned revision (a typo, a different mirror) is caught before gigabytes are fetched. Small files kept in
git (configs, tokenizer) have no SHA-256 on the Hub (only a git blob id): their size is compared here, and
their SHA-256, like every file's, after the download. When the Hub does not answer (no network, offline
mode, a server error), staging says so and relies on those per-file checksums alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from avatar_runtime.base_model import Manifest, Source
from base_model_staging.staging import StagingError

LOG = logging.getLogger(__name__)


class HubMismatch(StagingError):
    """The Hub's metadata at the pinned revision contradicts the manifest; the message names both values."""


def check_against_hub(manifest: Manifest, source: Source, paths: Iterable[str]) -> bool:
    """True when the Hub answered and agrees on `paths` (paths in `source`, one of the manifest's Hub
    sources); False (logged) when it did not answer. Raises HubMismatch when it answered and disagrees,
    or has no such revision or file."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError
    from huggingface_hub.hf_api import RepoFile

    repo_id, revision = str(source.repo_id), str(source.revision)
    where = f"{repo_id}@{revision}"
    wanted = set(paths)
    entries = {f.origin_path: f for f in manifest.files if manifest.source_of(f) == source}
    entries = {path: f for path, f in entries.items() if path in wanted}
    try:
        answer = HfApi().get_paths_info(repo_id, sorted(entries), revision=revision)
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:  # the Hub answered: no such thing
        raise HubMismatch(
            f"the Hub has no {where} ({type(exc).__name__}): check the manifest's source"
        ) from exc
    except (
        Exception
    ) as exc:  # no answer: offline mode, DNS, connection, timeout, 5xx (transport-specific types)
        LOG.warning(
            "the Hub did not answer (%s: %s): relying on the manifest's per-file checksums after download",
            type(exc).__name__,
            exc,
        )
        return False
    found = {info.path: info for info in answer if isinstance(info, RepoFile)}
    problems = []
    for path, entry in sorted(entries.items()):
        info = found.get(path)
        if info is None:
            problems.append(f"{path}: not in {where} on the Hub")
            continue
        size = info.lfs.size if info.lfs else info.size
        if size != entry.size:
            problems.append(f"{path}: the Hub says {size} bytes, the manifest says {entry.size}")
        if info.lfs and info.lfs.sha256 != entry.sha256:
            problems.append(
                f"{path}: the Hub's LFS SHA-256 is {info.lfs.sha256}, the manifest says {entry.sha256}"
            )
    if problems:
        raise HubMismatch(
            f"refusing to stage {manifest.name}: the Hub's files at {where} do not match the manifest: "
            + "; ".join(problems)
        )
    LOG.info("the Hub agrees with the manifest on %d file(s) at %s", len(entries), where)
    return True
