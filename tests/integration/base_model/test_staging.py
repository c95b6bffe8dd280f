"""`python -m base_model_staging stage/check/record` against moto's S3: verified, idempotent, resumable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub.errors import LocalEntryNotFoundError

from avatar_runtime.base_model import MANIFEST_OBJECT, Manifest, Source
from base_model_staging import sources, staging
from base_model_staging.__main__ import main
from tests.integration.base_model.conftest import BUCKET, COMMIT, REPO_ID


def _keys(s3: Any, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def _fetch(manifest: Manifest, calls: list[list[str]] | None = None):
    def fetch(paths):
        paths = list(paths)
        if calls is not None:
            calls.append(paths)
        return sources.fetch(manifest, paths)

    return fetch


def test_stage_uploads_every_file_then_the_manifest_with_kms(s3: Any, manifest: Manifest) -> None:
    report = staging.stage(manifest, BUCKET, s3, _fetch(manifest), progress=False)
    assert report.uri == f"s3://{BUCKET}/base-models/{manifest.digest}/"
    assert sorted(report.uploaded) == [f.path for f in manifest.files] and report.wrote_manifest
    expected = sorted([manifest.prefix + f.path for f in manifest.files] + [manifest.manifest_key])
    assert _keys(s3) == expected
    staged = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest.manifest_key)["Body"].read())
    assert Manifest.from_json(staged).digest == manifest.digest
    weights = next(f for f in manifest.files if f.path.endswith(".safetensors"))
    head = s3.head_object(Bucket=BUCKET, Key=manifest.prefix + weights.path)
    assert head["ServerSideEncryption"] == "aws:kms"  # the bucket's default, never overridden
    assert head["ContentLength"] == weights.size and head["Metadata"]["sha256"] == weights.sha256
    assert staging.check(manifest, BUCKET, s3) == report.uri


def test_second_run_uploads_nothing_and_fetches_nothing(s3: Any, manifest: Manifest) -> None:
    staging.stage(manifest, BUCKET, s3, _fetch(manifest), progress=False)
    before = {k: s3.head_object(Bucket=BUCKET, Key=k)["LastModified"] for k in _keys(s3)}
    calls: list[list[str]] = []
    again = staging.stage(manifest, BUCKET, s3, _fetch(manifest, calls), progress=False)
    assert again.uploaded == [] and again.bytes_uploaded == 0 and not again.wrote_manifest
    assert calls == [] and len(again.skipped) == len(manifest.files)
    assert {k: s3.head_object(Bucket=BUCKET, Key=k)["LastModified"] for k in _keys(s3)} == before


def test_interrupted_staging_resumes_with_what_is_missing(s3: Any, manifest: Manifest) -> None:
    staging.stage(manifest, BUCKET, s3, _fetch(manifest), progress=False)
    lost = [manifest.prefix + manifest.files[0].path, manifest.manifest_key]
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in lost]})
    with pytest.raises(staging.StagingError, match="make stage-base-model"):
        staging.check(manifest, BUCKET, s3)
    calls: list[list[str]] = []
    report = staging.stage(manifest, BUCKET, s3, _fetch(manifest, calls), progress=False)
    assert calls == [[manifest.files[0].path]] and report.uploaded == [manifest.files[0].path]
    assert report.wrote_manifest and staging.check(manifest, BUCKET, s3)


def test_a_corrupted_file_is_refused_and_nothing_is_uploaded(
    s3: Any, manifest: Manifest, source_dir: Path
) -> None:
    weights = next(
        f for f in manifest.files if f.path.startswith("unet/") and f.path.endswith(".safetensors")
    )
    data = bytearray((source_dir / weights.path).read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes
    (source_dir / weights.path).write_bytes(bytes(data))
    with pytest.raises(
        staging.StagingError, match=rf"{weights.path}: SHA-256 [0-9a-f]{{64}}, the manifest says"
    ):
        staging.stage(manifest, BUCKET, s3, _fetch(manifest), progress=False)
    assert _keys(s3) == []


def test_unpinned_manifest_is_refused_with_the_record_command(s3: Any) -> None:
    branch = Manifest("tiny", Source("huggingface", REPO_ID, "main"), ())
    with pytest.raises(ValueError, match=r"not pinned.*40-hex commit.*base_model_staging record"):
        staging.stage(branch, BUCKET, s3, lambda paths: Path("/nonexistent"), progress=False)
    assert _keys(s3) == []


def test_missing_bucket_names_the_storage_stack(s3: Any, manifest: Manifest) -> None:
    with pytest.raises(staging.StagingError, match="AvatarStorage"):
        staging.stage(manifest, "no-such-bucket", s3, _fetch(manifest), progress=False)


def test_hub_source_is_fetched_at_its_pinned_commit_through_huggingface_hub(
    s3: Any, hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tiny.json"
    assert main(["record", "--repo-id", REPO_ID, "--revision", COMMIT, "--name", "tiny", "--output", str(out),
                 "--hf-cache", str(hf_cache), "--offline"]) == 0  # fmt: skip
    recorded = Manifest.load(out)
    assert recorded.source == Source("huggingface", REPO_ID, COMMIT) and not recorded.problems()
    args = ["--manifest", str(out), "--bucket", BUCKET]
    assert main(["check", *args]) == 1
    assert "make stage-base-model" in capsys.readouterr().err
    assert main(["stage", *args, "--hf-cache", str(hf_cache), "--offline"]) == 0
    assert f"{len(recorded.files)} file(s) uploaded" in capsys.readouterr().out
    assert main(["stage", *args, "--hf-cache", str(hf_cache), "--offline"]) == 0
    assert "0 file(s) uploaded" in capsys.readouterr().out
    assert main(["check", *args]) == 0
    assert recorded.manifest_key in _keys(s3) and MANIFEST_OBJECT in recorded.manifest_key


def test_a_revision_missing_from_the_source_fails_clearly(
    s3: Any, hf_cache: Path, manifest: Manifest
) -> None:
    other = Manifest(manifest.name, Source("huggingface", REPO_ID, "f" * 40), manifest.files)
    fetch = lambda paths: sources.fetch(other, paths, cache_dir=hf_cache, offline=True)  # noqa: E731
    with pytest.raises(LocalEntryNotFoundError):
        staging.stage(other, BUCKET, s3, fetch, progress=False)
    assert _keys(s3) == []


def test_the_default_bucket_is_the_storage_stacks_data_bucket(
    s3: Any, manifest: Manifest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(manifest.dumps())
    assert main(["stage", "--manifest", str(path)]) == 0  # <resourcePrefix>-data-<account>-<region>
    assert f"s3://{BUCKET}/base-models/{manifest.digest}/" in capsys.readouterr().out
    assert main(["check", "--manifest", str(path)]) == 0


def test_a_commit_needs_no_resolution_and_a_branch_offline_is_refused(hf_cache: Path) -> None:
    assert sources.resolve_revision(REPO_ID, COMMIT) == COMMIT  # no Hub call for an immutable revision
    with pytest.raises(ValueError, match="cannot be resolved to a commit"):
        sources.record(Source("huggingface", REPO_ID, "main"), "tiny", cache_dir=hf_cache, offline=True)
