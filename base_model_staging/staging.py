"""Upload a verified base model to `s3://<bucket>/base-models/<digest>/`, and check that one is staged.

Idempotent and resumable: an object whose size and recorded SHA-256 (object metadata `sha256`, written at
upload) match the manifest is skipped, so a second run uploads nothing and an interrupted run continues
with what is missing. Everything missing is fetched and checked against the manifest *before* the first
upload, so a corrupted download uploads nothing. The manifest object is written last: its presence means
the prefix is complete. No SSE header is sent: objects get the bucket's default encryption (the data
bucket's KMS key). The containers check the bytes themselves when they download them.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from tqdm.auto import tqdm

from avatar_runtime.base_model import MANIFEST_OBJECT, STAGE_COMMAND, Manifest, ManifestFile, check_file

SHA256_METADATA = "sha256"


class StagingError(RuntimeError):
    """Staging or the staged check failed; the message says why and what to run."""


@dataclass
class StageReport:
    uri: str
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_uploaded: int = 0
    wrote_manifest: bool = False


def staged_uri(bucket: str, manifest: Manifest) -> str:
    return f"s3://{bucket}/{manifest.prefix}"


def _head(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise


def _is_staged(s3: Any, bucket: str, key: str, entry: ManifestFile) -> bool:
    head = _head(s3, bucket, key)
    return (
        head is not None
        and head.get("ContentLength") == entry.size
        and head.get("Metadata", {}).get(SHA256_METADATA) == entry.sha256
    )


def _require_bucket(s3: Any, bucket: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        raise StagingError(
            f"the data bucket {bucket} is not reachable ({exc}); deploy the storage stack first "
            "(`make stage-base-model` does, or `cdk deploy AvatarStorage`), or pass --bucket"
        ) from exc


def stage(
    manifest: Manifest,
    bucket: str,
    s3: Any,
    fetch: Callable[[Iterable[str]], Path],
    *,
    progress: bool | None = None,
) -> StageReport:
    """Stage `manifest` into `bucket`; `fetch(paths)` returns a directory holding those paths."""
    manifest.require_pinned()
    _require_bucket(s3, bucket)
    report = StageReport(staged_uri(bucket, manifest))
    missing = [f for f in manifest.files if not _is_staged(s3, bucket, manifest.prefix + f.path, f)]
    report.skipped = [f.path for f in manifest.files if f not in missing]
    if missing:
        root = fetch([f.path for f in missing])
        disable = None if progress is None else not progress
        total = sum(int(f.size or 0) for f in missing)
        with tqdm(total=total, unit="B", unit_scale=True, desc="verify", disable=disable) as bar:
            reasons = [r for f in missing if (r := check_file(root / f.path, f, bar.update))]
        if reasons:
            raise StagingError(
                f"refusing to stage {manifest.name}: the fetched files do not match the manifest: "
                + "; ".join(reasons)
            )
        with tqdm(total=total, unit="B", unit_scale=True, desc="upload", disable=disable) as bar:
            for f in missing:
                content_type = mimetypes.guess_type(f.path)[0] or "application/octet-stream"
                s3.upload_file(
                    str(root / f.path),
                    bucket,
                    manifest.prefix + f.path,
                    ExtraArgs={"Metadata": {SHA256_METADATA: f.sha256}, "ContentType": content_type},
                    Callback=bar.update,
                )
                report.uploaded.append(f.path)
                report.bytes_uploaded += int(f.size or 0)
    body = manifest.dumps().encode()
    if report.uploaded or _staged_manifest(s3, bucket, manifest) != manifest:
        s3.put_object(
            Bucket=bucket,
            Key=manifest.manifest_key,
            Body=body,
            ContentType="application/json",
            Metadata={SHA256_METADATA: manifest.digest},
        )
        report.wrote_manifest = True
    return report


def _staged_manifest(s3: Any, bucket: str, manifest: Manifest) -> Manifest | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=manifest.manifest_key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise
    try:
        return Manifest.from_json(json.loads(body))
    except ValueError:
        return None


def check(manifest: Manifest, bucket: str, s3: Any) -> str:
    """The staged URI when `manifest` is staged in `bucket`; else StagingError naming the command."""
    manifest.require_pinned()
    uri = staged_uri(bucket, manifest)
    try:
        staged = _staged_manifest(s3, bucket, manifest)
    except ClientError as exc:
        raise StagingError(f"cannot read {uri}{MANIFEST_OBJECT} ({exc}); run `{STAGE_COMMAND}`") from exc
    if staged is None or staged.digest != manifest.digest:
        raise StagingError(
            f"the base model {manifest.name} is not staged at {uri} (no {MANIFEST_OBJECT} there): run "
            f"`{STAGE_COMMAND}` before deploying the service stack"
        )
    broken = [f.path for f in manifest.files if not _is_staged(s3, bucket, manifest.prefix + f.path, f)]
    if broken:
        raise StagingError(f"{uri} is incomplete ({', '.join(broken)}): run `{STAGE_COMMAND}` again")
    return uri
