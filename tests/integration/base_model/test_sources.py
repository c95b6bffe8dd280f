"""Where staging gets the files: the Hub (after its metadata agrees with the manifest), a private S3 mirror
or a directory; every source verified against the same per-file checksums. No network: moto's S3, and
`HfApi.get_paths_info` / `snapshot_download` replaced at their public boundary."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path
from typing import Any
from unittest import mock

import huggingface_hub
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import RevisionNotFoundError
from huggingface_hub.hf_api import RepoFile

from avatar_runtime.base_model import Manifest, ManifestError, Source
from base_model_staging import sources, staging
from base_model_staging.__main__ import main
from base_model_staging.hub import HubMismatch
from tests.integration.base_model.conftest import BUCKET, COMMIT, REPO_ID

MIRROR = "private-mirror-bucket"


def _keys(s3: Any, bucket: str = BUCKET) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def _mirror(s3: Any, root: Path, prefix: str = "sd21/") -> str:
    s3.create_bucket(Bucket=MIRROR)
    for path in root.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), MIRROR, prefix + path.relative_to(root).as_posix())
    return f"s3://{MIRROR}/{prefix}"


def _on_the_hub(manifest: Manifest) -> Manifest:
    return dataclasses.replace(manifest, source=Source("huggingface", REPO_ID, COMMIT))


def _weights(manifest: Manifest) -> Any:
    return next(f for f in manifest.files if f.path.startswith("unet/") and f.path.endswith(".safetensors"))


def _hub_answer(manifest: Manifest, **changed: Any) -> list[RepoFile]:
    """What the Hub's paths-info API says about the manifest's files (weights in LFS), with `changed`
    ({path: {"size": ..., "sha256": ...}}) applied, and any path changed to None left out."""
    answer = []
    for f in manifest.files:
        change = changed.get(f.path, {})
        if change is None:
            continue
        size, sha256 = change.get("size", f.size), change.get("sha256", f.sha256)
        if f.path.endswith(".safetensors"):
            lfs = {"size": size, "oid": sha256, "pointerSize": 134}
            answer.append(RepoFile(path=f.path, size=size, oid="1" * 40, lfs=lfs))
        else:
            answer.append(RepoFile(path=f.path, size=size, oid="2" * 40))
    return answer


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, source_dir: Path) -> dict[str, Any]:
    """`HfApi.get_paths_info` answers `hub["answer"]` (or raises it), `snapshot_download` serves
    `source_dir`; both record their calls."""
    state: dict[str, Any] = {"answer": [], "asked": [], "downloads": []}

    def get_paths_info(self: HfApi, repo_id: str, paths: list[str], **kwargs: Any) -> list[RepoFile]:
        state["asked"].append((repo_id, list(paths), kwargs))
        if isinstance(state["answer"], BaseException):
            raise state["answer"]
        return state["answer"]

    def snapshot_download(**kwargs: Any) -> str:
        state["downloads"].append(kwargs)
        return str(source_dir)

    monkeypatch.setattr(HfApi, "get_paths_info", get_paths_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return state


def test_an_s3_mirror_stages_to_the_same_prefix_as_any_source(
    s3: Any, manifest: Manifest, source_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirrored = dataclasses.replace(manifest, source=Source("s3", uri=_mirror(s3, source_dir)))
    path = tmp_path / "mirrored.json"
    path.write_text(mirrored.dumps())
    assert Manifest.load(path).source == mirrored.source and not mirrored.problems()
    assert main(["stage", "--manifest", str(path), "--bucket", BUCKET]) == 0
    assert f"{len(manifest.files)} file(s) uploaded" in capsys.readouterr().out
    assert staging.check(manifest, BUCKET, s3)  # the digest is the bytes', not the source's


@pytest.mark.parametrize("kind", ["s3", "directory"])
def test_the_committed_manifest_stages_from_a_mirror_without_asking_the_hub(
    s3: Any, manifest: Manifest, source_dir: Path, tmp_path: Path, hub: dict[str, Any], kind: str
) -> None:
    committed = _on_the_hub(manifest)
    path = tmp_path / "committed.json"
    path.write_text(committed.dumps())
    mirror = _mirror(s3, source_dir) if kind == "s3" else str(source_dir)
    assert main(["stage", "--manifest", str(path), "--bucket", BUCKET, "--mirror", mirror]) == 0
    assert hub["asked"] == [] and hub["downloads"] == []
    staged = json.loads(s3.get_object(Bucket=BUCKET, Key=committed.manifest_key)["Body"].read())
    assert Manifest.from_json(staged) == committed  # what is staged names the recorded source


def test_a_tampered_file_in_the_s3_mirror_is_refused_and_nothing_is_uploaded(
    s3: Any, manifest: Manifest, source_dir: Path, tmp_path: Path
) -> None:
    mirrored = dataclasses.replace(manifest, source=Source("s3", uri=_mirror(s3, source_dir)))
    weights = _weights(manifest)
    data = bytearray((source_dir / weights.path).read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes
    s3.put_object(Bucket=MIRROR, Key="sd21/" + weights.path, Body=bytes(data))
    fetch = lambda paths: sources.fetch(mirrored, paths, workdir=tmp_path / "work", s3=s3)  # noqa: E731
    with pytest.raises(
        staging.StagingError, match=rf"{weights.path}: SHA-256 [0-9a-f]{{64}}, the manifest says"
    ):
        staging.stage(manifest, BUCKET, s3, fetch, progress=False)
    assert _keys(s3) == []
    s3.delete_object(Bucket=MIRROR, Key="sd21/" + weights.path)
    with pytest.raises(staging.StagingError, match=rf"{weights.path}: cannot download s3://{MIRROR}/sd21/"):
        staging.stage(manifest, BUCKET, s3, fetch, progress=False)
    assert _keys(s3) == []


def test_when_the_hub_agrees_the_pinned_commit_is_downloaded_and_staged(
    s3: Any, manifest: Manifest, hub: dict[str, Any]
) -> None:
    committed = _on_the_hub(manifest)
    hub["answer"] = _hub_answer(committed)
    report = staging.stage(committed, BUCKET, s3, lambda p: sources.fetch(committed, p), progress=False)
    paths = [f.path for f in committed.files]
    assert hub["asked"] == [(REPO_ID, paths, {"revision": COMMIT})]
    assert [(d["repo_id"], d["revision"], d["allow_patterns"]) for d in hub["downloads"]] == [
        (REPO_ID, COMMIT, paths)
    ]
    assert sorted(report.uploaded) == paths and staging.check(committed, BUCKET, s3)


def test_a_hub_lfs_sha256_that_disagrees_stops_staging_naming_both_values(
    s3: Any, manifest: Manifest, hub: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    committed = _on_the_hub(manifest)
    weights = _weights(committed)
    hub["answer"] = _hub_answer(committed, **{weights.path: {"sha256": "f" * 64}})
    path = tmp_path / "committed.json"
    path.write_text(committed.dumps())
    assert main(["stage", "--manifest", str(path), "--bucket", BUCKET]) == 1
    error = capsys.readouterr().err
    assert f"{weights.path}: the Hub's LFS SHA-256 is {'f' * 64}, the manifest says {weights.sha256}" in error
    assert f"{REPO_ID}@{COMMIT}" in error
    assert hub["downloads"] == [] and _keys(s3) == []  # stopped before downloading anything


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"size": 7}, "the Hub says 7 bytes, the manifest says {size}"),
        (None, f"not in {REPO_ID}@{COMMIT} on the Hub"),
    ],
)
def test_a_hub_size_or_file_that_disagrees_is_refused(
    s3: Any, manifest: Manifest, hub: dict[str, Any], change: Any, reason: str
) -> None:
    committed = _on_the_hub(manifest)
    config = next(f for f in committed.files if f.path == "unet/config.json")  # kept in git, not LFS
    hub["answer"] = _hub_answer(committed, **{config.path: change})
    with pytest.raises(HubMismatch, match=f"{config.path}: {reason.format(size=config.size)}"):
        staging.stage(committed, BUCKET, s3, lambda p: sources.fetch(committed, p), progress=False)
    assert hub["downloads"] == [] and _keys(s3) == []


def test_a_revision_the_hub_does_not_have_is_refused(
    s3: Any, manifest: Manifest, hub: dict[str, Any]
) -> None:
    committed = _on_the_hub(manifest)
    hub["answer"] = RevisionNotFoundError("404", response=mock.Mock(headers={}, request=None))
    with pytest.raises(HubMismatch, match=f"the Hub has no {REPO_ID}@{COMMIT}"):
        staging.stage(committed, BUCKET, s3, lambda p: sources.fetch(committed, p), progress=False)
    assert hub["downloads"] == []


def test_an_unreachable_hub_is_said_and_the_checksums_still_decide(
    s3: Any, manifest: Manifest, source_dir: Path, hub: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    committed = _on_the_hub(manifest)
    hub["answer"] = ConnectionError("[Errno -3] Temporary failure in name resolution")
    weights = _weights(committed)
    data = bytearray((source_dir / weights.path).read_bytes())
    data[0] ^= 0xFF
    (source_dir / weights.path).write_bytes(bytes(data))
    with (
        caplog.at_level(logging.WARNING, logger="base_model_staging"),
        pytest.raises(staging.StagingError, match=rf"{weights.path}: SHA-256 [0-9a-f]{{64}}, the manifest"),
    ):
        staging.stage(committed, BUCKET, s3, lambda p: sources.fetch(committed, p), progress=False)
    assert "the Hub did not answer (ConnectionError" in caplog.text
    assert "relying on the manifest's per-file checksums" in caplog.text
    assert len(hub["downloads"]) == 1 and _keys(s3) == []


def test_offline_staging_does_not_ask_the_hub(s3: Any, manifest: Manifest, hub: dict[str, Any]) -> None:
    committed = _on_the_hub(manifest)
    staging.stage(committed, BUCKET, s3, lambda p: sources.fetch(committed, p, offline=True), progress=False)
    assert hub["asked"] == [] and hub["downloads"][0]["local_files_only"] is True


@pytest.fixture
def both_precisions(tiny_model_dir: Path, tiny_fp16_model_dir: Path, tmp_path: Path) -> Path:
    """Like the Hub repository: full-precision weights and their fp16 variants side by side."""
    root = Path(shutil.copytree(tiny_model_dir, tmp_path / "both"))
    for variant in tiny_fp16_model_dir.glob("*/*.fp16.safetensors"):
        shutil.copy(variant, root / variant.relative_to(tiny_fp16_model_dir))
    return root


def test_record_picks_full_precision_or_the_fp16_variants(
    both_precisions: Path, tiny_fp16_model_dir: Path
) -> None:
    full = sources.record(Source("directory", path=str(both_precisions)), "full")
    fp16 = sources.record(Source("directory", path=str(both_precisions)), "fp16", variant="fp16")
    weights = lambda m: sorted(f.path for f in m.files if f.path.endswith(".safetensors"))  # noqa: E731
    assert weights(full) == [
        "text_encoder/model.safetensors",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
    ]
    assert weights(fp16) == [p.replace(".safetensors", ".fp16.safetensors") for p in weights(full)]
    others = lambda m: [f for f in m.files if not f.path.endswith(".safetensors")]  # noqa: E731
    assert others(full) == others(fp16) and any(f.path == "model_index.json" for f in others(fp16))
    with pytest.raises(
        ManifestError, match=r"text_encoder/ has no full-precision weights \(it has fp16\).*--variant fp16"
    ):
        sources.record(Source("directory", path=str(tiny_fp16_model_dir)), "only-fp16")


def test_record_fp16_from_a_hub_revision(both_precisions: Path, tmp_path: Path) -> None:
    cache = tmp_path / "hf-cache"
    repo = cache / f"models--{REPO_ID.replace('/', '--')}"
    shutil.copytree(both_precisions, repo / "snapshots" / COMMIT)
    out = tmp_path / "fp16.json"
    assert main(["record", "--repo-id", REPO_ID, "--revision", COMMIT, "--variant", "fp16", "--name", "tiny",
                 "--output", str(out), "--hf-cache", str(cache), "--offline"]) == 0  # fmt: skip
    recorded = Manifest.load(out)
    assert recorded.source == Source("huggingface", REPO_ID, COMMIT) and not recorded.problems()
    weights = [f.path for f in recorded.files if f.path.endswith(".safetensors")]
    assert len(weights) == 3 and all(p.endswith(".fp16.safetensors") for p in weights)


def test_record_online_lists_the_revision_and_downloads_only_the_chosen_files(
    both_precisions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = [p.relative_to(both_precisions).as_posix() for p in both_precisions.rglob("*") if p.is_file()]
    downloads: list[dict[str, Any]] = []

    def snapshot_download(**kwargs: Any) -> str:
        downloads.append(kwargs)
        return str(both_precisions)

    monkeypatch.setattr(HfApi, "list_repo_files", lambda self, repo_id, revision=None: listed)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    recorded = sources.record(Source("huggingface", REPO_ID, COMMIT), "tiny", variant="fp16")
    assert [d["allow_patterns"] for d in downloads] == [[f.path for f in recorded.files]]
    assert not any(p.endswith(".safetensors") and ".fp16." not in p for p in downloads[0]["allow_patterns"])
