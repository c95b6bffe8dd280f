"""A manifest with several sources (format 2): the tiny pipeline's VAE kept at the root of another
repository or directory, fetched per source into one staged tree with the VAE under vae/, every file
checked, and the Hub asked per repository and revision. No network: moto's S3, `HfApi.get_paths_info`
and `snapshot_download` replaced at their public boundary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import huggingface_hub
import pytest
from huggingface_hub import HfApi
from huggingface_hub.hf_api import RepoFile

from avatar_runtime.base_model import Manifest, ManifestFile, Source, resolve_base_model, sha256_file
from base_model_staging import sources, staging
from base_model_staging.__main__ import main
from base_model_staging.hub import HubMismatch
from tests.integration.base_model.conftest import BUCKET, COMMIT, REPO_ID

VAE_REPO = "test-org/tiny-vae-fix"
VAE_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture
def split(source_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The tiny pipeline as two directories: the base without vae/, and the VAE's files at a root."""
    vae = Path(shutil.move(source_dir / "vae", tmp_path / "vae-repo"))
    return source_dir, vae


def _two_sources(manifest: Manifest, base: Source, vae: Source) -> Manifest:
    files = tuple(
        ManifestFile(f.path, f.size, f.sha256, "vae", f.path.removeprefix("vae/"))
        if f.path.startswith("vae/")
        else f
        for f in manifest.files
    )
    return Manifest(manifest.name, base, files, sources={"vae": vae})


def _from_dirs(manifest: Manifest, split: tuple[Path, Path]) -> Manifest:
    return _two_sources(
        manifest, Source("directory", path=str(split[0])), Source("directory", path=str(split[1]))
    )


def _keys(s3: Any) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_two_directories_stage_into_one_tree_with_the_vae_under_vae(
    s3: Any, manifest: Manifest, split: tuple[Path, Path], tmp_path: Path
) -> None:
    two = _from_dirs(manifest, split)
    assert two.problems() == [] and {f.origin_path for f in two.files if f.source} >= {"config.json"}
    fetch = lambda paths: sources.fetch(two, paths, workdir=tmp_path / "work")  # noqa: E731
    report = staging.stage(two, BUCKET, s3, fetch, progress=False)
    assert sorted(report.uploaded) == sorted(f.path for f in manifest.files)
    assert two.prefix + "vae/config.json" in _keys(s3) and two.manifest_key in _keys(s3)
    staged = json.loads(s3.get_object(Bucket=BUCKET, Key=two.manifest_key)["Body"].read())
    assert staged["format"] == 2 and Manifest.from_json(staged) == two
    assert staging.check(two, BUCKET, s3) == report.uri
    # the containers download the staged tree by its staged paths and check every file
    local = resolve_base_model(report.uri, tmp_path / "cache", s3_client=s3)
    assert (local / "vae" / "config.json").read_bytes() == (split[1] / "config.json").read_bytes()


def test_a_tampered_file_in_the_second_source_is_refused_and_nothing_is_uploaded(
    s3: Any, manifest: Manifest, split: tuple[Path, Path], tmp_path: Path
) -> None:
    two = _from_dirs(manifest, split)
    weights = next(split[1].glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes
    weights.write_bytes(bytes(data))
    fetch = lambda paths: sources.fetch(two, paths, workdir=tmp_path / "work")  # noqa: E731
    with pytest.raises(
        staging.StagingError, match=rf"vae/{weights.name}: SHA-256 [0-9a-f]{{64}}, the manifest"
    ):
        staging.stage(two, BUCKET, s3, fetch, progress=False)
    assert _keys(s3) == []


def test_a_mirror_of_the_pipeline_stages_a_multi_source_manifest_at_its_digest(
    s3: Any, manifest: Manifest, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    committed = _two_sources(
        manifest, Source("huggingface", REPO_ID, COMMIT), Source("huggingface", VAE_REPO, VAE_COMMIT)
    )
    path = tmp_path / "two.json"
    path.write_text(committed.dumps())
    assert main(["stage", "--manifest", str(path), "--bucket", BUCKET, "--mirror", str(tiny_model_dir)]) == 0
    assert f"{len(manifest.files)} file(s) uploaded" in capsys.readouterr().out
    assert staging.check(committed, BUCKET, s3) == f"s3://{BUCKET}/{committed.prefix}"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, split: tuple[Path, Path]) -> dict[str, Any]:
    """A Hub with the base at `REPO_ID@COMMIT` and the VAE at `VAE_REPO@VAE_COMMIT` (its files at the
    root); `hub["lfs"]` overrides an LFS SHA-256 by (repo, path). Calls are recorded."""
    roots = {REPO_ID: split[0], VAE_REPO: split[1]}
    state: dict[str, Any] = {"asked": [], "downloads": [], "lfs": {}}

    def get_paths_info(self: HfApi, repo_id: str, paths: list[str], **kwargs: Any) -> list[RepoFile]:
        state["asked"].append((repo_id, list(paths), kwargs["revision"]))
        answer = []
        for path in paths:
            size = (roots[repo_id] / path).stat().st_size
            if path.endswith(".safetensors"):
                sha = state["lfs"].get((repo_id, path)) or sha256_file(roots[repo_id] / path)
                lfs = {"size": size, "oid": sha, "pointerSize": 134}
                answer.append(RepoFile(path=path, size=size, oid="1" * 40, lfs=lfs))
            else:
                answer.append(RepoFile(path=path, size=size, oid="2" * 40))
        return answer

    def snapshot_download(**kwargs: Any) -> str:
        state["downloads"].append((kwargs["repo_id"], kwargs["revision"], sorted(kwargs["allow_patterns"])))
        return str(roots[kwargs["repo_id"]])

    monkeypatch.setattr(HfApi, "get_paths_info", get_paths_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return state


def _on_the_hub(manifest: Manifest) -> Manifest:
    return _two_sources(
        manifest, Source("huggingface", REPO_ID, COMMIT), Source("huggingface", VAE_REPO, VAE_COMMIT)
    )


def test_the_hub_is_asked_per_repository_and_revision_and_each_snapshot_fetched(
    s3: Any, manifest: Manifest, hub: dict[str, Any], split: tuple[Path, Path], tmp_path: Path
) -> None:
    committed = _on_the_hub(manifest)
    fetch = lambda paths: sources.fetch(committed, paths, workdir=tmp_path / "work")  # noqa: E731
    staging.stage(committed, BUCKET, s3, fetch, progress=False)
    vae_files = sorted(p.name for p in split[1].iterdir())
    base_files = sorted(f.path for f in committed.files if not f.source)
    assert hub["asked"] == [(REPO_ID, base_files, COMMIT), (VAE_REPO, vae_files, VAE_COMMIT)]
    assert hub["downloads"] == [(REPO_ID, COMMIT, base_files), (VAE_REPO, VAE_COMMIT, vae_files)]
    assert staging.check(committed, BUCKET, s3)


def test_a_second_repository_that_disagrees_with_the_manifest_stops_before_any_download(
    s3: Any, manifest: Manifest, hub: dict[str, Any], split: tuple[Path, Path], tmp_path: Path
) -> None:
    committed = _on_the_hub(manifest)
    weights = next(split[1].glob("*.safetensors")).name
    hub["lfs"][(VAE_REPO, weights)] = "0" * 64
    fetch = lambda paths: sources.fetch(committed, paths, workdir=tmp_path / "work")  # noqa: E731
    with pytest.raises(
        HubMismatch, match=rf"at {VAE_REPO}@{VAE_COMMIT} .*{weights}: the Hub's LFS SHA-256 is 0{{64}}"
    ):
        staging.stage(committed, BUCKET, s3, fetch, progress=False)
    assert hub["downloads"] == [] and _keys(s3) == []
