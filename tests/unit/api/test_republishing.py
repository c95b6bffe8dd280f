"""Issue 21 M1 migration: the publisher rebuilds an archive published before archives were code-free
(`1/model.py`, `backend: "python"`) from its adapter and metadata only, with a staged model's checks;
an archive already code-free is left alone, a hostile one is refused and kept, and a concurrent
write wins over the rebuild (ETag-conditional)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from avatar_api.adapters.aws import Bucket
from avatar_api.domain.republishing import RepublishRequest, republish, republish_page
from avatar_contract import keys
from avatar_contract.publishing import InvalidStagedModel
from avatar_runtime.artifact import package_user_model
from avatar_runtime.safe_tar import safe_extract
from hosting_server.model_gate import RefusedModel, check_user_model
from tests.unit.test_publishing import OWNER, adapter, metadata

MODEL = "m-" + "b" * 20  # test_publishing's metadata names it
OLD_CONFIG = b'backend: "python"\nmax_batch_size: 0\n'
OLD_MODEL_PY = b"import triton_python_backend_utils as pb_utils\nclass TritonPythonModel: ...\n"


def tar_gz(members: dict[str, bytes], folders: tuple[str, ...] = ()) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return out.getvalue()


def old_archive(model_id: str = MODEL, **meta: Any) -> bytes:
    """What the training role published before issue 21 M1: the template with its model.py."""
    return tar_gz(
        {
            f"{model_id}/config.pbtxt": OLD_CONFIG,
            f"{model_id}/1/model.py": OLD_MODEL_PY,
            f"{model_id}/1/pytorch_lora_weights.safetensors": adapter(),
            f"{model_id}/1/metadata.json": json.dumps(metadata(model_id=model_id, **meta)).encode(),
        },
        folders=(model_id, f"{model_id}/1"),
    )


@pytest.fixture
def buckets() -> Iterator[tuple[Bucket, Bucket]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for name in ("hosting", "data"):
            s3.create_bucket(Bucket=name)
        yield Bucket("hosting", s3), Bucket("data", s3)


def put(hosting: Bucket, body: bytes, model_id: str = MODEL) -> tuple[str, str]:
    key = keys.model_key(OWNER, model_id)
    return key, str(hosting.client.put_object(Bucket=hosting.name, Key=key, Body=body)["ETag"])


def gate_checks(archive: bytes, tmp_path: Path) -> Path:
    tmp_path.mkdir()
    (tmp_path / "m.tar.gz").write_bytes(archive)
    return check_user_model(safe_extract(tmp_path / "m.tar.gz", tmp_path / "model"))


def test_an_old_layout_archive_is_rebuilt_code_free_and_the_gate_accepts_it(buckets, tmp_path: Path):
    hosting, data = buckets
    key, etag = put(hosting, old_archive(class_noun="person", render_version=2))
    with pytest.raises(RefusedModel, match=r"model\.py"):  # what the upgrade broke
        gate_checks(old_archive(), tmp_path / "before")
    assert republish(hosting, data, key, etag) == "republished"
    rebuilt = hosting.get_bytes(key)
    assert rebuilt is not None
    assert gate_checks(rebuilt, tmp_path / "after").name == MODEL
    with tarfile.open(fileobj=io.BytesIO(rebuilt)) as tar:
        assert tar.extractfile(f"{MODEL}/1/pytorch_lora_weights.safetensors").read() == adapter()  # type: ignore[union-attr]
        kept = json.loads(tar.extractfile(f"{MODEL}/1/metadata.json").read())  # type: ignore[union-attr]
    assert kept["class_noun"] == "person" and kept["token"] == "sks"
    verdict = data.get_json(keys.republication_key(OWNER, MODEL))
    assert verdict == {
        "model_id": MODEL,
        "training_id": metadata()["training_id"],
        "status": "republished",
        "reason": None,
    }


def test_an_archive_already_code_free_is_left_alone(buckets, tmp_path: Path):
    hosting, data = buckets
    (tmp_path / "a").write_bytes(adapter())
    current = package_user_model(MODEL, tmp_path / "a", metadata(), tmp_path / "m.tar.gz").read_bytes()
    key, etag = put(hosting, current)
    assert republish(hosting, data, key, etag) == "current"
    assert hosting.head(key) == (len(current), etag)
    assert data.get_json(keys.republication_key(OWNER, MODEL)) is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (old_archive(owner="1" * 32), "names another owner"),
        (old_archive(lora_rank=8), "rank"),
        (tar_gz({f"{MODEL}/1/metadata.json": json.dumps(metadata()).encode()}), "no adapter"),
        (b"\x1f\x8b not gzip", "unreadable or unsafe"),
        (tar_gz({f"../{MODEL}/1/pytorch_lora_weights.safetensors": adapter()}), "leaves the archive"),
        (
            tar_gz({f"{MODEL}/1/metadata.json": b"{}"} | {f"x/{i}": b"" for i in range(20)}),
            "more than 16 members",
        ),
        (
            tar_gz(
                {f"{MODEL}/1/pytorch_lora_weights.safetensors": b"\x02" + b"\x00" * 7 + b"{}"}
                | {f"{MODEL}/1/metadata.json": json.dumps(metadata()).encode()}
            ),
            "tensors",
        ),
    ],
    ids=["other owner", "rank", "no adapter", "not a tar", "escaping path", "too many members", "bad header"],
)
def test_a_hostile_archive_is_refused_kept_and_reported(buckets, body: bytes, reason: str):
    hosting, data = buckets
    key, etag = put(hosting, body)
    with pytest.raises(InvalidStagedModel, match=reason):
        republish(hosting, data, key, etag)
    assert hosting.get_bytes(key) == body  # kept as it was
    verdict = data.get_json(keys.republication_key(OWNER, MODEL))
    assert verdict is not None and verdict["status"] == "refused" and reason.split()[0] in verdict["reason"]


class _WriteDuringRead:
    """An S3 client on which someone else replaces the archive right after the publisher read it."""

    def __init__(self, client: Any, replacement: bytes) -> None:
        self._client, self._replacement = client, replacement

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_object(self, **kwargs: Any) -> Any:
        response = self._client.get_object(**kwargs)
        body = response["Body"].read()
        self._client.put_object(Bucket=kwargs["Bucket"], Key=kwargs["Key"], Body=self._replacement)
        return {**response, "Body": io.BytesIO(body)}


def test_a_concurrent_write_is_not_undone(buckets):
    hosting, data = buckets
    key, etag = put(hosting, old_archive())
    racing = Bucket(hosting.name, _WriteDuringRead(hosting.client, b"published meanwhile"))
    assert republish(racing, data, key, etag) == "changed"
    assert hosting.get_bytes(key) == b"published meanwhile"
    assert data.get_json(keys.republication_key(OWNER, MODEL)) is None
    hosting.delete(key)  # deleted between the listing and the read
    assert republish(hosting, data, key, etag) == "changed"
    assert not hosting.exists(key)


def test_a_page_reports_each_archive_and_a_foreign_key_is_refused(buckets):
    hosting, data = buckets
    put(hosting, old_archive())
    hosting.put_bytes("models/not-a-model.tar.gz", b"x", "application/gzip")
    report = republish_page(hosting, data, RepublishRequest(limit=10))
    assert report.republished == [keys.model_key(OWNER, MODEL)] and report.continuation is None
    assert "not a model archive" in report.refused["models/not-a-model.tar.gz"]
