"""Issue 21 M1 migration on moto: the publisher function, invoked directly with `{"republish": …}`, pages
through `models/` — old-layout archives rebuilt code-free (the model gate accepts them), code-free ones
left alone, a hostile one reported and kept — and hands back the continuation until the listing ends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from avatar_api.handlers import publisher
from avatar_contract import keys
from avatar_contract.names import Env
from avatar_runtime.artifact import package_user_model
from avatar_runtime.safe_tar import safe_extract
from hosting_server.model_gate import check_user_model
from local_cloud.cloud import MODEL_PUBLISHER, LocalCloud
from tests.fixtures.api import SESSION
from tests.fixtures.api_backend import DATA_BUCKET, HOSTING_BUCKET, Api
from tests.unit.api.test_republishing import old_archive, tar_gz
from tests.unit.test_publishing import adapter, metadata

ALICE, BOB = "a" * 32, "b" * 32


@pytest.fixture(autouse=True)
def publisher_env(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(Env.DATA_BUCKET, DATA_BUCKET)
    monkeypatch.setenv(Env.HOSTING_BUCKET, HOSTING_BUCKET)
    publisher.buckets.cache_clear()
    yield
    publisher.buckets.cache_clear()


def model_id(n: int) -> str:
    return f"m-{n:020d}"


def oldest(owner: str, n: int) -> bytes:
    """An archive from before class_noun and render_version existed, with its model.py."""
    document = metadata(model_id=model_id(n), owner=owner)
    for late in ("class_noun", "render_version"):
        document.pop(late)
    return tar_gz(
        {
            f"{model_id(n)}/config.pbtxt": b'backend: "python"\n',
            f"{model_id(n)}/1/model.py": b"import os\n",
            f"{model_id(n)}/1/pytorch_lora_weights.safetensors": adapter(),
            f"{model_id(n)}/1/metadata.json": json.dumps(document).encode(),
        }
    )


def invoke(**request: Any) -> dict[str, Any]:
    return publisher.lambda_handler({"republish": request})


def test_a_page_of_mixed_archives_with_continuation(api: Api, tmp_path: Path):
    (tmp_path / "a").write_bytes(adapter())
    current = package_user_model(
        model_id(2), tmp_path / "a", metadata(model_id=model_id(2), owner=ALICE), tmp_path / "c.tar.gz"
    ).read_bytes()
    archives = {
        keys.model_key(ALICE, model_id(1)): old_archive(model_id(1), owner=ALICE),
        keys.model_key(ALICE, model_id(2)): current,
        keys.model_key(ALICE, model_id(3)): tar_gz({f"{model_id(3)}/1/model.py": b"import os"}),
        keys.model_key(BOB, model_id(4)): oldest(BOB, 4),
    }
    for key, body in archives.items():
        api.s3.put_object(Bucket=HOSTING_BUCKET, Key=key, Body=body)

    first = invoke(limit=3)
    assert first["republished"] == [keys.model_key(ALICE, model_id(1))]
    assert first["current"] == [keys.model_key(ALICE, model_id(2))]
    assert list(first["refused"]) == [keys.model_key(ALICE, model_id(3))]
    assert first["continuation"]
    second = invoke(limit=3, continuation=first["continuation"])
    assert second["republished"] == [keys.model_key(BOB, model_id(4))] and second["continuation"] is None
    again = invoke(limit=10)  # a second pass finds nothing left to migrate
    assert again["republished"] == [] and len(again["current"]) == 3 and len(again["refused"]) == 1

    for n, (owner, key) in enumerate([(ALICE, model_id(1)), (BOB, model_id(4))]):
        path = tmp_path / f"r{n}.tar.gz"
        path.write_bytes(
            api.s3.get_object(Bucket=HOSTING_BUCKET, Key=keys.model_key(owner, key))["Body"].read()
        )
        assert check_user_model(safe_extract(path, tmp_path / f"x{n}")).name == key
    hostile = api.s3.get_object(Bucket=HOSTING_BUCKET, Key=keys.model_key(ALICE, model_id(3)))["Body"].read()
    assert hostile == archives[keys.model_key(ALICE, model_id(3))]  # reported, not deleted
    verdict = json.loads(
        SESSION.client("s3")
        .get_object(Bucket=DATA_BUCKET, Key=keys.republication_key(ALICE, model_id(3)))["Body"]
        .read()
    )
    assert verdict["status"] == "refused" and "no adapter" in verdict["reason"]


def test_an_owner_prefix_limits_the_page_and_a_bad_request_is_refused(api: Api):
    api.s3.put_object(Bucket=HOSTING_BUCKET, Key=keys.model_key(ALICE, model_id(1)), Body=oldest(ALICE, 1))
    api.s3.put_object(Bucket=HOSTING_BUCKET, Key=keys.model_key(BOB, model_id(4)), Body=oldest(BOB, 4))
    assert invoke(owner_prefix="b")["republished"] == [keys.model_key(BOB, model_id(4))]
    with pytest.raises(ValidationError):
        invoke(limit=0)
    with pytest.raises(ValidationError):
        invoke(owner_prefix="../")


class _InProcess:
    """The local cloud's model-publisher function, run in this process on moto."""

    def invoke(self, event: dict[str, Any]) -> Any:
        return publisher.lambda_handler(event)


def test_the_local_clouds_operator_command_pages_until_done(api: Api, tmp_path: Path):
    for n in (1, 2, 3):
        api.s3.put_object(
            Bucket=HOSTING_BUCKET, Key=keys.model_key(ALICE, model_id(n)), Body=oldest(ALICE, n)
        )
    cloud = LocalCloud(state_dir=tmp_path)
    cloud.functions[MODEL_PUBLISHER.name] = _InProcess()  # type: ignore[assignment]
    reports = cloud.republish_models(limit=2)
    assert [len(r["republished"]) for r in reports] == [2, 1] and reports[-1]["continuation"] is None
