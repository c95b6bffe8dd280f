"""Where a manifest's files come from: a Hugging Face repository at a pinned commit, a private S3 mirror
(`s3://bucket/prefix/`) or a local directory; and recording a manifest of a revision or a directory.

Hugging Face access goes through `huggingface_hub` itself, so its own settings apply: `HF_TOKEN` for a
private or gated repository, `HF_ENDPOINT` for a private Hub mirror, `HF_HUB_CACHE` / `cache_dir` for
where downloads are kept (a second run reuses them), `HF_HUB_OFFLINE` (or `offline=True`) to use only the
cache. Before a Hub download, the Hub's sizes and LFS SHA-256 are compared with the manifest
(`base_model_staging.hub`). Whatever the source, staging then checks every fetched file against the
manifest's size and SHA-256 before it uploads any.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from tqdm.auto import tqdm

from avatar_runtime.base_model import Manifest, ManifestError, ManifestFile, Source, is_commit, sha256_file
from base_model_staging.hub import check_against_hub
from base_model_staging.staging import StagingError

LOG = logging.getLogger(__name__)

# What a diffusers pipeline needs: configs, tokenizer files and safetensors weights. Not the single-file
# checkpoints (.ckpt) or the .bin, .msgpack and .onnx duplicates.
DIFFUSERS_PATTERNS = ("model_index.json", "*/*.json", "*/*.txt", "*/*.safetensors")
EXCLUDED_PATTERNS = ("*/*.ckpt", "*/*.bin", "*/*.msgpack", "*/*.onnx", ".*", "*/.*")
# A component's weights: `unet/diffusion_pytorch_model.safetensors`, a variant of them
# (`unet/diffusion_pytorch_model.fp16.safetensors`), or shards of either (`...-00001-of-00002.safetensors`).
_WEIGHTS_RE = re.compile(
    r"^(?P<folder>[^/]+)/(?:model|diffusion_pytorch_model)(?:\.(?P<variant>[A-Za-z0-9_]+))?"
    r"(?:-\d+-of-\d+)?\.safetensors$"
)


def select(paths: Iterable[str], variant: str | None = None) -> list[str]:
    """The files of a diffusers pipeline worth recording among `paths`: every config and tokenizer file,
    and each component's weights at full precision or, with `variant` (e.g. "fp16"), its
    `<name>.<variant>.safetensors`. A component without weights of that precision is refused."""
    chosen: list[str] = []
    weights: dict[str, dict[str | None, list[str]]] = {}  # folder -> variant -> files
    for path in sorted(paths):
        if not any(fnmatch.fnmatchcase(path, p) for p in DIFFUSERS_PATTERNS) or any(
            fnmatch.fnmatchcase(path, p) for p in EXCLUDED_PATTERNS
        ):
            continue
        if match := _WEIGHTS_RE.fullmatch(path):
            weights.setdefault(match["folder"], {}).setdefault(match["variant"], []).append(path)
        elif not path.endswith(".safetensors"):
            chosen.append(path)
    for folder, found in sorted(weights.items()):
        if variant not in found:
            variants = sorted(v for v in found if v is not None)
            have = ", ".join((["full precision"] if None in found else []) + variants)
            hint = "record without --variant" if None in found else f"record with --variant {variants[0]}"
            raise ManifestError(
                f"{folder}/ has no {variant or 'full-precision'} weights (it has {have}): {hint}"
            )
        chosen.extend(found[variant])
    return sorted(chosen)


def _files_under(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]


def fetch(
    manifest: Manifest,
    paths: Iterable[str],
    *,
    cache_dir: Path | None = None,
    offline: bool = False,
    workdir: Path | None = None,
    s3: Any | None = None,
) -> Path:
    """A local directory holding `paths` (staged paths) of the manifest: from each source, the directory
    itself, the Hub's snapshot of its repository and revision (after the Hub's metadata agrees with the
    manifest), or the S3 mirror's copies in `workdir`. With several sources, or a file whose path in its
    source differs (`source_path`), `workdir/tree` links each staged path to its file in its source."""
    groups = manifest.by_source(paths)
    if not manifest.multi_source:
        return _fetch_source(manifest, manifest.source, sorted(paths), cache_dir, offline, workdir, s3)
    if workdir is None:
        raise ValueError("a manifest with several sources is assembled in a work directory: pass workdir")
    tree = workdir / "tree"
    if not offline:  # every Hub source is checked before the first download
        for entries in groups.values():
            source = manifest.source_of(entries[0])
            if source.kind == "huggingface":
                check_against_hub(manifest, source, [f.origin_path for f in entries])
    for key, entries in groups.items():
        source = manifest.source_of(entries[0])
        where = workdir / "sources" / key
        where.mkdir(parents=True, exist_ok=True)
        origin = {f.origin_path: f for f in entries}
        LOG.info("%s: %d file(s) from %s", key, len(entries), source.repo_id or source.path or source.uri)
        root = _fetch_source(manifest, source, sorted(origin), cache_dir, offline, where, s3, checked=True)
        for f in entries:
            link = tree / f.path
            link.parent.mkdir(parents=True, exist_ok=True)
            link.unlink(missing_ok=True)
            link.symlink_to((root / f.origin_path).absolute())
    return tree


def _fetch_source(
    manifest: Manifest,
    source: Source,
    wanted: list[str],
    cache_dir: Path | None,
    offline: bool,
    workdir: Path | None,
    s3: Any | None,
    checked: bool = False,
) -> Path:
    """A directory holding `wanted` (paths in `source`) of one source (`checked`: against the Hub already)."""
    if source.kind == "directory":
        if not source.path or not Path(source.path).is_dir():
            raise ManifestError(f"source.path {source.path!r} is not a directory")
        return Path(source.path)
    if source.kind == "s3":
        if workdir is None:
            raise ValueError("an S3 mirror is downloaded into a work directory: pass workdir")
        return _from_s3(str(source.uri), wanted, workdir, s3)
    if offline:
        LOG.info("offline: the Hub's metadata is not checked; the per-file checksums are, after the copy")
    elif not checked:
        check_against_hub(manifest, source, wanted)
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


def _from_s3(uri: str, paths: list[str], workdir: Path, s3: Any | None) -> Path:
    """Download `paths` from the mirror `s3://bucket/prefix/<path>` into `workdir` (checked by the caller)."""
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
    for path in tqdm(paths, unit="file", desc="mirror"):
        target = workdir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            s3.download_file(bucket, prefix + path, str(target))
        except (BotoCoreError, ClientError) as exc:
            raise StagingError(
                f"{path}: cannot download s3://{bucket}/{prefix}{path} from the mirror: {exc}"
            ) from exc
    return workdir


def resolve_revision(repo_id: str, revision: str) -> str:
    """The commit a branch or tag points at now (needs the Hub); a commit is returned as it is."""
    if is_commit(revision):
        return revision
    from huggingface_hub import HfApi

    sha = HfApi().model_info(repo_id, revision=revision).sha
    if not sha:
        raise ManifestError(f"the Hub returned no commit for {repo_id}@{revision}")
    return sha


def record(
    source: Source,
    name: str,
    *,
    variant: str | None = None,
    cache_dir: Path | None = None,
    offline: bool = False,
) -> Manifest:
    """A manifest of the diffusers files of `source` (`select`: full precision, or the `variant` weights);
    a Hub revision is resolved to its commit first, and only the selected files are downloaded."""
    if source.kind == "huggingface":
        repo_id, revision = source.repo_id, source.revision
        if not repo_id or not revision:
            raise ManifestError("recording from the Hub needs --repo-id and --revision")
        if offline and not is_commit(revision):
            raise ManifestError(f"offline, {revision!r} cannot be resolved to a commit: pass the commit")
        commit = resolve_revision(repo_id, revision)
        source = Source("huggingface", repo_id, commit)
        from huggingface_hub import HfApi, snapshot_download

        if offline:  # what the cache holds
            listed = _files_under(
                Path(
                    snapshot_download(
                        repo_id=repo_id, revision=commit, cache_dir=cache_dir, local_files_only=True
                    )
                )
            )
        else:
            listed = HfApi().list_repo_files(repo_id, revision=commit)
        paths = select(listed, variant)
        root = Path(
            snapshot_download(
                repo_id=repo_id,
                revision=commit,
                allow_patterns=paths,
                cache_dir=cache_dir,
                local_files_only=offline,
            )
        )
    elif source.kind == "directory":
        if not source.path or not Path(source.path).is_dir():
            raise ManifestError(f"--from-dir {source.path!r} is not a directory")
        root = Path(source.path)
        paths = select(_files_under(root), variant)
    else:
        raise ManifestError(f"cannot record from a {source.kind} source: record the files' directory")
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
