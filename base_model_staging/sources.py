"""Where a manifest's files come from: a Hugging Face repository at a pinned commit, or a local directory.

Hugging Face access goes through `huggingface_hub` itself, so its own settings apply: `HF_TOKEN` for a
private or gated repository, `HF_ENDPOINT` for a private Hub mirror, `HF_HUB_CACHE` / `cache_dir` for
where downloads are kept (a second run reuses them), `HF_HUB_OFFLINE` (or `offline=True`) to use only the
cache.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import Path

from tqdm.auto import tqdm

from avatar_contract.base_model import Manifest, ManifestError, ManifestFile, Source, is_commit, sha256_file

# What a diffusers pipeline needs: configs, tokenizer files and safetensors weights (full precision).
# Not the single-file checkpoints (.ckpt), the .bin duplicates or the fp16 variants.
DIFFUSERS_PATTERNS = ("model_index.json", "*/*.json", "*/*.txt", "*/*.safetensors")
EXCLUDED_PATTERNS = ("*.fp16.*", "*/*.ckpt", "*/*.bin", "*/*.msgpack", "*/*.onnx", ".*", "*/.*")


def _wanted(path: str) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in DIFFUSERS_PATTERNS) and not any(
        fnmatch.fnmatchcase(path, p) for p in EXCLUDED_PATTERNS
    )


def fetch(
    manifest: Manifest, paths: Iterable[str], *, cache_dir: Path | None = None, offline: bool = False
) -> Path:
    """A local directory holding `paths` of the manifest's source (downloaded if it is the Hub)."""
    source = manifest.source
    wanted = sorted(paths)
    if source.kind == "directory":
        if not source.path or not Path(source.path).is_dir():
            raise ManifestError(f"source.path {source.path!r} is not a directory")
        return Path(source.path)
    from huggingface_hub import snapshot_download

    return Path(
        snapshot_download(
            repo_id=str(source.repo_id),
            revision=source.revision,
            allow_patterns=wanted,
            cache_dir=cache_dir,
            local_files_only=offline,
        )
    )


def resolve_revision(repo_id: str, revision: str) -> str:
    """The commit a branch or tag points at now (needs the Hub); a commit is returned as it is."""
    if is_commit(revision):
        return revision
    from huggingface_hub import HfApi

    sha = HfApi().model_info(repo_id, revision=revision).sha
    if not sha:
        raise ManifestError(f"the Hub returned no commit for {repo_id}@{revision}")
    return sha


def record(source: Source, name: str, *, cache_dir: Path | None = None, offline: bool = False) -> Manifest:
    """A manifest of every diffusers file of `source` (a Hub revision is resolved to its commit first)."""
    if source.kind == "huggingface":
        repo_id, revision = source.repo_id, source.revision
        if not repo_id or not revision:
            raise ManifestError("recording from the Hub needs --repo-id and --revision")
        if offline and not is_commit(revision):
            raise ManifestError(f"offline, {revision!r} cannot be resolved to a commit: pass the commit")
        commit = resolve_revision(repo_id, revision)
        source = Source("huggingface", repo_id, commit)
        from huggingface_hub import snapshot_download

        root = Path(
            snapshot_download(
                repo_id=repo_id,
                revision=commit,
                allow_patterns=list(DIFFUSERS_PATTERNS),
                ignore_patterns=list(EXCLUDED_PATTERNS),
                cache_dir=cache_dir,
                local_files_only=offline,
            )
        )
    else:
        if not source.path or not Path(source.path).is_dir():
            raise ManifestError(f"--from-dir {source.path!r} is not a directory")
        root = Path(source.path)
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    paths = [p for p in paths if _wanted(p)]
    total = sum((root / p).stat().st_size for p in paths)
    files = []
    with tqdm(total=total, unit="B", unit_scale=True, desc="checksums") as bar:
        for path in paths:
            files.append(
                ManifestFile(path, (root / path).stat().st_size, sha256_file(root / path, bar.update))
            )
    manifest = Manifest(name=name, source=source, files=tuple(files))
    manifest.require_pinned(f"the recording of {root}")
    return manifest
