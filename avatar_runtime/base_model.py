"""The base model's manifest and its verified download, shared by the staging tool (`base_model_staging`),
the CDK app and both containers. Standard library only at import (boto3 and diffusers load lazily), so
it stays importable without torch.

A manifest (committed under `base_models/`) pins where a diffusers pipeline comes from (a Hugging Face
repository at a commit revision, or a local directory) and the size and SHA-256 of every file it needs.
Format 1 has one `source`; format 2 names several (`"sources": {"base": ..., "vae": ...}`), and a file
from another than "base" says so (`"source": "vae"`, with `"source_path"` when its path there differs).
Its *digest* is the SHA-256 of the canonical file list (paths, sizes, checksums; in format 2 also each
file's pinned repository, revision and path there): the content address.
A deployment stages the files once to `s3://<data bucket>/base-models/<digest>/<path>` and writes the
manifest there last (`base-model-manifest.json`), so the manifest object means "staged, complete".
The containers download exactly the files the staged manifest lists and check every one before use.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avatar_contract.names import Env, Prefix

FORMAT_VERSION = 1  # one source; the format every manifest without named sources is written in
MULTI_SOURCE_FORMAT = 2  # named sources, each file from one of them
BASE_SOURCE = "base"  # format 2: the source of a file that names none
MANIFEST_OBJECT = "base-model-manifest.json"  # next to the staged files; written last
STAGE_COMMAND = "make stage-base-model"
RECORD_COMMAND = "python -m base_model_staging record"
SOURCE_KINDS = ("huggingface", "directory", "s3")
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_PATH_RE = re.compile(r"^[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*$")
_S3_URI_RE = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")
_STAGED_RE = re.compile(
    rf"^s3://(?P<bucket>[^/]+)/(?P<prefix>{Prefix.BASE_MODELS}(?P<digest>[0-9a-f]{{64}})/)$"
)
# A diffusers/transformers weight file: `model.safetensors`, `diffusion_pytorch_model.safetensors`, or a
# variant of one (`diffusion_pytorch_model.fp16.safetensors`).
_WEIGHTS_RE = re.compile(r"^(?:model|diffusion_pytorch_model)(?:\.(?P<variant>[A-Za-z0-9_]+))?\.safetensors$")
_CHUNK = 8 * 2**20
_VERIFIED = ".verified"  # marker in a cached copy: its content is the digest it was checked against


class ManifestError(ValueError):
    """The manifest file is malformed, or not pinned enough to stage."""


class BaseModelError(RuntimeError):
    """The base model cannot be used: not staged, tampered with, or a Hub id where the Hub is off limits."""


@dataclass(frozen=True)
class ManifestFile:
    path: str  # relative, POSIX, diffusers layout (e.g. unet/diffusion_pytorch_model.safetensors)
    size: int | None
    sha256: str | None
    source: str | None = None  # format 2: the named source it comes from (None: the base source)
    source_path: str | None = None  # its path in that source, when not `path` (a VAE at a repository's root)

    @property
    def origin_path(self) -> str:
        return self.source_path or self.path


@dataclass(frozen=True)
class Source:
    kind: str  # "huggingface" (repo_id + revision), "directory" (path) or "s3" (uri: a private mirror)
    repo_id: str | None = None
    revision: str | None = None  # a 40-hex commit: a branch or tag is not a pin
    path: str | None = None
    uri: str | None = None  # s3://bucket/prefix/ holding the files under their paths


@dataclass(frozen=True)
class Manifest:
    name: str
    source: Source
    files: tuple[ManifestFile, ...]
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    sources: Mapping[str, Source] = field(default_factory=dict)  # format 2: the named sources but "base"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Manifest:
        if data.get("format") == FORMAT_VERSION:
            named = {BASE_SOURCE: data.get("source") or {}}
        elif data.get("format") == MULTI_SOURCE_FORMAT:
            named = dict(data.get("sources") or {})
            if BASE_SOURCE not in named:
                raise ManifestError(
                    f'format {MULTI_SOURCE_FORMAT} needs a "{BASE_SOURCE}" source in "sources"'
                )
        else:
            raise ManifestError(
                f"manifest format {data.get('format')!r} is not {FORMAT_VERSION} or {MULTI_SOURCE_FORMAT}"
            )
        parsed = {key: _source(key, value) for key, value in named.items()}
        files = []
        for entry in data.get("files") or []:
            path, origin = entry.get("path"), entry.get("source_path")
            for value in (path, *([origin] if origin is not None else [])):
                if not isinstance(value, str) or not _PATH_RE.fullmatch(value) or ".." in value.split("/"):
                    raise ManifestError(f"file path {value!r} is not a relative path inside the pipeline")
            source = entry.get("source")
            if source is not None and source not in parsed:
                raise ManifestError(f"{path}: source {source!r} is not one of the manifest's sources")
            if data.get("format") == FORMAT_VERSION and (source is not None or origin is not None):
                raise ManifestError(f"{path}: a per-file source needs format {MULTI_SOURCE_FORMAT}")
            source = None if source == BASE_SOURCE else source
            files.append(ManifestFile(path, entry.get("size"), entry.get("sha256"), source, origin))
        if len({f.path for f in files}) != len(files):
            raise ManifestError("the manifest lists a file twice")
        base = parsed.pop(BASE_SOURCE)
        return cls(
            name=str(data.get("name") or "base-model"),
            source=base,
            files=tuple(sorted(files, key=lambda f: f.path)),
            note=str(data.get("note") or ""),
            sources=parsed,
        )

    @property
    def multi_source(self) -> bool:
        return bool(self.sources) or any(f.source or f.source_path for f in self.files)

    def source_of(self, entry: ManifestFile) -> Source:
        return self.sources[entry.source] if entry.source else self.source

    def by_source(self, paths: Iterable[str]) -> dict[str, list[ManifestFile]]:
        """The entries for `paths`, grouped by the name of the source they come from ("base" first)."""
        wanted = set(paths)
        groups: dict[str, list[ManifestFile]] = {}
        for f in self.files:
            if f.path in wanted:
                groups.setdefault(f.source or BASE_SOURCE, []).append(f)
        return dict(sorted(groups.items(), key=lambda item: item[0] != BASE_SOURCE))

    def mirrored(self, mirror: Source) -> Manifest:
        """The same files, all from `mirror` under their staged paths (a mirror holds the pipeline)."""
        files = tuple(ManifestFile(f.path, f.size, f.sha256) for f in self.files)
        return Manifest(self.name, mirror, files, self.note)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Manifest:
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ManifestError(f"cannot read the base-model manifest {path}: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        def plain(item: Any) -> dict[str, Any]:
            return {k: v for k, v in vars(item).items() if v is not None}

        data: dict[str, Any]
        if self.multi_source:
            named = {BASE_SOURCE: self.source, **self.sources}
            sources = {key: plain(source) for key, source in named.items()}
            data = {"format": MULTI_SOURCE_FORMAT, "name": self.name, "sources": sources}
        else:
            data = {"format": FORMAT_VERSION, "name": self.name, "source": plain(self.source)}
        if self.note:
            data["note"] = self.note
        data["files"] = [
            plain(f) if self.multi_source else {"path": f.path, "size": f.size, "sha256": f.sha256}
            for f in self.files
        ]
        return data

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical file list: in format 1 the same bytes give the same prefix, whatever the
        source; in format 2 each file's pinned origin (repository, revision, path there) counts too."""
        listed: list[Any] = [[f.path, f.size, f.sha256] for f in self.files]
        if self.multi_source:
            listed = [MULTI_SOURCE_FORMAT] + [
                [f.path, f.size, f.sha256, *_pin(self.source_of(f)), f.origin_path] for f in self.files
            ]
        canonical = json.dumps(listed, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def prefix(self) -> str:
        """`base-models/<digest>/`: where the files are staged in the data bucket."""
        return f"{Prefix.BASE_MODELS}{self.digest}/"

    @property
    def manifest_key(self) -> str:
        return self.prefix + MANIFEST_OBJECT

    def problems(self) -> list[str]:
        """Why this manifest cannot be staged (empty when it is pinned and complete)."""
        found = []
        named = {BASE_SOURCE: self.source, **self.sources}
        for key, source in named.items():
            where = f"sources.{key}" if self.multi_source else "source"
            if source.kind == "huggingface":
                if not source.repo_id:
                    found.append(f"{where}.repo_id is missing")
                if not is_commit(source.revision):
                    found.append(f"{where}.revision {source.revision!r} is not a 40-hex commit revision")
            if source.kind == "s3" and not _S3_URI_RE.fullmatch(source.uri or ""):
                found.append(f"{where}.uri {source.uri!r} is not an s3://bucket/prefix URI")
        found += [
            f"{f.path}: no source {f.source!r}" for f in self.files if f.source and f.source not in named
        ]
        if not self.files:
            found.append("it lists no files")
        if not any(f.path == "model_index.json" for f in self.files):
            found.append("it has no model_index.json (not a diffusers pipeline)")
        for f in self.files:
            if not isinstance(f.size, int) or f.size < 0 or not _SHA256_RE.fullmatch(f.sha256 or ""):
                found.append(f"{f.path} has no size and SHA-256")
        return found

    def require_pinned(self, origin: str = "the manifest") -> None:
        found = self.problems()
        if found:
            raise ManifestError(
                f"{origin} is not pinned: {'; '.join(found)}. On a machine with Hub access, record it with "
                f"`{RECORD_COMMAND} --repo-id <org/name> --revision <commit or branch> --output <manifest>`, "
                "review the recorded commit and checksums, and commit the file."
            )


def _source(key: str, value: Any) -> Source:
    where = "source" if key == BASE_SOURCE else f"sources.{key}"
    if not isinstance(value, Mapping) or value.get("kind") not in SOURCE_KINDS:
        raise ManifestError(f"{where}.kind must be one of {', '.join(SOURCE_KINDS)}: {value!r}")
    return Source(
        value["kind"], value.get("repo_id"), value.get("revision"), value.get("path"), value.get("uri")
    )


def _pin(source: Source) -> tuple[str | None, str | None]:
    """What identifies a source in the digest: a Hub repository and commit; a directory or mirror is only
    where the same bytes are kept (its path is not part of the content address)."""
    return (source.repo_id, source.revision) if source.kind == "huggingface" else (None, None)


def is_commit(revision: str | None) -> bool:
    """A 40-hex commit revision (immutable), not a branch or tag."""
    return bool(revision and _COMMIT_RE.fullmatch(revision))


def sha256_file(path: Path, progress: Callable[[int], Any] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


def check_file(path: Path, entry: ManifestFile, progress: Callable[[int], Any] | None = None) -> str | None:
    """None when `path` has the manifest's size and SHA-256, else the reason (naming the file)."""
    if not path.is_file():
        return f"{entry.path}: missing"
    size = path.stat().st_size
    if size != entry.size:
        return f"{entry.path}: {size} bytes, the manifest says {entry.size}"
    actual = sha256_file(path, progress)
    if actual != entry.sha256:
        return f"{entry.path}: SHA-256 {actual}, the manifest says {entry.sha256}"
    return None


def verify_tree(root: Path, manifest: Manifest, files: Iterable[ManifestFile] | None = None) -> None:
    """Raise BaseModelError naming every file under `root` that does not match the manifest."""
    reasons = [r for f in (manifest.files if files is None else files) if (r := check_file(root / f.path, f))]
    if reasons:
        raise BaseModelError(f"base model {manifest.name} ({manifest.digest[:12]}): " + "; ".join(reasons))


def weights_variant(pipeline_dir: str | os.PathLike[str]) -> str | None:
    """The `variant=` to pass to `from_pretrained` for the pipeline in `pipeline_dir`: `"fp16"` when its
    weight files are all `*.fp16.safetensors` (the staged default, docs/base-model.md), None when it has
    full-precision weights (a Hub download, the tiny random models) or is not a local directory."""
    root = Path(pipeline_dir)
    found = {m["variant"] for p in root.glob("*/*.safetensors") if (m := _WEIGHTS_RE.fullmatch(p.name))}
    variants = found - {None}
    return variants.pop() if len(variants) == 1 and None not in found else None


def base_model_identity(spec: str) -> str:
    """The manifest digest of a staged copy (the same bytes wherever they are staged), else `spec`."""
    match = _STAGED_RE.fullmatch(spec if spec.endswith("/") else spec + "/")
    return match["digest"] if match else spec


def hub_is_offline(environ: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get("HF_HUB_OFFLINE", "")
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def resolve_base_model(
    spec: str,
    cache_dir: Path,
    *,
    s3_client: Any | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """A local directory holding the diffusers pipeline named by `spec`.

    - a local directory: used as it is (development, the local cloud);
    - `s3://<bucket>/base-models/<digest>/` (what the CDK app sets): the staged manifest is read, its digest
      checked against the prefix and `AVATAR_BASE_MODEL_SHA256`, and every listed file downloaded once into
      `cache_dir/base-models/<digest>/` and checked; any mismatch raises BaseModelError naming the file;
    - a Hugging Face id: refused when `HF_HUB_OFFLINE` is set (as in the deployed containers), else
      downloaded through diffusers into `cache_dir/hub`.
    """
    env = os.environ if environ is None else environ
    local = Path(spec).expanduser()
    if local.is_dir():
        return local
    if spec.startswith(("/", ".", "~")):  # a path, not a hub id: do not go looking online
        raise BaseModelError(f"no such directory: {spec}")
    if spec.startswith("s3://"):
        return _staged_copy(spec, cache_dir, s3_client, env.get(Env.BASE_MODEL_SHA256) or None)
    if hub_is_offline(env):
        raise BaseModelError(
            f"{spec!r} is a Hugging Face id, and this container never contacts the Hub (HF_HUB_OFFLINE "
            f"is set): configure the staged copy (s3://<data bucket>/{Prefix.BASE_MODELS}<digest>/, see "
            f"`{STAGE_COMMAND}`)"
        )
    from diffusers import DiffusionPipeline  # only the Hub form needs it

    return Path(DiffusionPipeline.download(spec, cache_dir=cache_dir / "hub", use_safetensors=True))


def _staged_copy(spec: str, cache_dir: Path, s3_client: Any | None, expected: str | None) -> Path:
    match = _STAGED_RE.fullmatch(spec if spec.endswith("/") else spec + "/")
    if match is None:
        raise BaseModelError(
            f"{spec} is not a staged base model (s3://<bucket>/{Prefix.BASE_MODELS}<sha256>/); stage one "
            f"with `{STAGE_COMMAND}`"
        )
    bucket, prefix, digest = match["bucket"], match["prefix"], match["digest"]
    if expected and expected != digest:
        raise BaseModelError(f"{spec} is not the configured base model: its digest is not {expected}")
    target = cache_dir / "base-models" / digest
    marker = target / _VERIFIED
    if marker.is_file() and marker.read_text() == digest:
        return target
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    try:
        body = s3_client.get_object(Bucket=bucket, Key=prefix + MANIFEST_OBJECT)["Body"].read()
        manifest = Manifest.from_json(json.loads(body))
    except (ManifestError, ValueError) as exc:
        raise BaseModelError(
            f"the staged manifest s3://{bucket}/{prefix}{MANIFEST_OBJECT} is invalid: {exc}"
        ) from exc
    except Exception as exc:  # botocore's NoSuchKey / AccessDenied / connection errors
        raise BaseModelError(
            f"cannot read the staged manifest s3://{bucket}/{prefix}{MANIFEST_OBJECT} ({exc}); "
            f"was the base model staged (`{STAGE_COMMAND}`)?"
        ) from exc
    if manifest.digest != digest or manifest.problems():
        raise BaseModelError(
            f"the staged manifest under {spec} does not match its address (digest {manifest.digest}) "
            f"or is incomplete: {'; '.join(manifest.problems()) or 'digest mismatch'}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f"{digest}.part-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for entry in manifest.files:
            destination = staging / entry.path
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                s3_client.download_file(bucket, prefix + entry.path, str(destination))
            except Exception as exc:  # botocore errors: the reason names the file
                raise BaseModelError(
                    f"{entry.path}: cannot download s3://{bucket}/{prefix}{entry.path}: {exc}"
                ) from exc
        verify_tree(staging, manifest)
        (staging / _VERIFIED).write_text(digest)
        shutil.rmtree(target, ignore_errors=True)
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
