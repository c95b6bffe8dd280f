"""The shared contract: ids, key layout, config bounds, artifact layout, KServe payload."""

import json
import tarfile

import pytest
from pydantic import ValidationError

from avatar_contract import keys
from avatar_contract.artifact import package_user_model
from avatar_contract.generation import GenArgs, build_inference_request, images_from_response
from avatar_contract.names import Triton
from avatar_contract.training import TrainingHyperparameters


def test_owner_is_stable_opaque_and_distinct():
    a = keys.owner_of("arn:aws:iam::111122223333:user/alice")
    assert a == keys.owner_of("arn:aws:iam::111122223333:user/alice")
    assert a != keys.owner_of("arn:aws:iam::111122223333:user/bob")
    assert keys.OWNER_RE.fullmatch(a) and "alice" not in a


def test_key_layout_is_under_the_owner_prefix():
    owner, tid, mid = keys.owner_of("x"), keys.new_training_id(), keys.new_model_id()
    assert keys.training_input_key(owner, tid) == f"trainings/{owner}/{tid}/input.tar.gz"
    assert keys.model_key(owner, mid) == f"models/{owner}/{mid}.tar.gz"
    assert keys.target_model(owner, mid) == f"{owner}/{mid}.tar.gz"


@pytest.mark.parametrize(
    ("uri", "parts"),
    [
        ("s3://bucket/a/b.tar.gz", ("bucket", "a/b.tar.gz")),
        ("s3://bucket/prefix/", ("bucket", "prefix/")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket", ("bucket", "")),
    ],
)
def test_split_s3_uri(uri: str, parts: tuple[str, str]) -> None:
    assert keys.split_s3_uri(uri) == parts


@pytest.mark.parametrize("bad", ["bucket/key", "s3:/bucket/key", "s3:///key", "", "https://bucket/key"])
def test_split_s3_uri_refuses_what_is_not_an_s3_uri(bad: str) -> None:
    with pytest.raises(ValueError, match="not an S3 URI"):
        keys.split_s3_uri(bad)


@pytest.mark.parametrize("bad", ["../etc", "m-ABC", "", "m-" + "a" * 21])
def test_ids_are_validated_before_building_keys(bad):
    with pytest.raises(ValueError):
        keys.model_key(keys.owner_of("x"), bad)


def test_hyperparameters_reject_unknown_keys_and_out_of_range_values():
    with pytest.raises(ValidationError, match="max_train_steps"):
        TrainingHyperparameters(max_train_steps=100_000)
    with pytest.raises(ValidationError, match="extra"):
        TrainingHyperparameters(unknown_key=1)
    with pytest.raises(ValidationError, match="<<TOK>>"):
        TrainingHyperparameters(instance_prompt="a photo of a person")


def test_gen_args_bounds():
    assert GenArgs().num_inference_steps == 30
    with pytest.raises(ValidationError):
        GenArgs(num_inference_steps=0)
    with pytest.raises(ValidationError):
        GenArgs(width=100)


def test_kserve_payload_round_trip():
    body = build_inference_request("a photo of <<TOK>>", "blurry", {"num_inference_steps": 5, "seed": 1})
    assert [i["name"] for i in body["inputs"]] == ["prompt", "negative_prompt", "gen_args"]
    assert json.loads(body["inputs"][2]["data"][0]) == {"num_inference_steps": 5, "seed": 1}
    assert images_from_response({"outputs": [{"name": "generated_image", "data": ["aGk="]}]}) == ["aGk="]


def test_artifact_layout(tmp_path):
    template = tmp_path / "tpl"
    (template / "1").mkdir(parents=True)
    (template / "config.pbtxt").write_text('backend: "python"\n')
    (template / "1" / "model.py").write_text("# model\n")
    adapter = tmp_path / "a.safetensors"
    adapter.write_bytes(b"weights")
    mid = keys.new_model_id()
    out = package_user_model(mid, adapter, {"token": "sks"}, tmp_path / "m.tar.gz", template_dir=template)
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        meta = json.load(tar.extractfile(f"{mid}/1/{Triton.METADATA_FILE}"))
    assert names == {
        f"{mid}/config.pbtxt",
        f"{mid}/1/model.py",
        f"{mid}/1/{Triton.ADAPTER_FILE}",
        f"{mid}/1/{Triton.METADATA_FILE}",
    }
    assert meta == {"token": "sks"}
