"""The shared contract: ids, key layout, config bounds, artifact layout, KServe payload."""

import io
import json
import re
import tarfile

import pytest
from pydantic import ValidationError

from avatar_contract import keys
from avatar_contract.generation import GenArgs, build_inference_request, images_from_response
from avatar_contract.instance_tokens import CANDIDATES, NoTokenLeft, pick_token
from avatar_contract.lora import TEXT_ENCODER_TARGET_MODULES, UNET_TARGET_MODULES
from avatar_contract.multi_model import model_name_for
from avatar_contract.names import Triton
from avatar_contract.prompts import MissingTokenError, personalize, token_phrase, training_prompts
from avatar_contract.training import TrainingConfig, TrainingHyperparameters
from avatar_runtime.artifact import USER_TEMPLATE, artifact_members, package_user_model
from avatar_runtime.safe_tar import UnsafeArchiveError, check_member, safe_extract

KEY = b"k" * 32
OWNER = keys.owner_of("x", KEY)


def test_owner_is_stable_opaque_distinct_and_keyed():
    a = keys.owner_of("arn:aws:iam::111122223333:user/alice", KEY)
    assert a == keys.owner_of("arn:aws:iam::111122223333:user/alice", KEY)
    assert a != keys.owner_of("arn:aws:iam::111122223333:user/bob", KEY)
    assert a != keys.owner_of("arn:aws:iam::111122223333:user/alice", b"j" * 32)
    assert keys.OWNER_RE.fullmatch(a) and "alice" not in a


def test_key_layout_is_under_the_owner_prefix():
    owner, tid, mid = OWNER, keys.new_training_id(), keys.new_model_id()
    assert keys.training_input_key(owner, tid) == f"trainings/{owner}/{tid}/input.tar.gz"
    assert keys.model_key(owner, mid) == f"models/{owner}/{mid}.tar.gz"
    assert keys.target_model(owner, mid) == f"{owner}/{mid}.tar.gz"


def test_the_owner_of_a_training_input_is_read_back_from_its_key_and_nothing_else():
    tid, other = keys.new_training_id(), keys.new_training_id()
    key = keys.training_input_key(OWNER, tid)
    assert keys.owner_of_training_input(key, tid) == OWNER
    for wrong_key, training_id in [
        (key, other),  # another training's input
        (key, "not-an-id"),
        (keys.training_record_key(OWNER, tid), tid),  # not the input archive
        (key.replace(OWNER, "A" * 32), tid),  # not an owner id
        (f"uploads/{OWNER}/{tid}/input.tar.gz", tid),
        (f"trainings/{OWNER}/x/{tid}/input.tar.gz", tid),
        ("", tid),
    ]:
        assert keys.owner_of_training_input(wrong_key, training_id) is None, wrong_key


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
        keys.model_key(OWNER, bad)


def test_hyperparameters_reject_unknown_keys_and_out_of_range_values():
    with pytest.raises(ValidationError, match="max_train_steps"):
        TrainingHyperparameters(max_train_steps=100_000)
    with pytest.raises(ValidationError, match="extra"):
        TrainingHyperparameters(unknown_key=1)
    with pytest.raises(ValidationError, match="<<TOK>>"):
        TrainingHyperparameters(instance_prompt="a photo of a person")


def test_gen_args_bounds():
    assert GenArgs().num_inference_steps == 25
    with pytest.raises(ValidationError):
        GenArgs(num_inference_steps=0)
    with pytest.raises(ValidationError):
        GenArgs(width=100)


def test_kserve_payload_round_trip():
    body = build_inference_request("a photo of <<TOK>>", "blurry", {"num_inference_steps": 5, "seed": 1})
    assert [i["name"] for i in body["inputs"]] == ["prompt", "negative_prompt", "gen_args"]
    assert json.loads(body["inputs"][2]["data"][0]) == {"num_inference_steps": 5, "seed": 1}
    assert images_from_response({"outputs": [{"name": "generated_image", "data": ["aGk="]}]}) == ["aGk="]


def test_artifact_layout_carries_no_code(tmp_path):
    """Issue 21 M1: config.pbtxt (naming the image's backend), the adapter and the metadata; nothing else,
    even from a template folder that holds more."""
    template = tmp_path / "tpl"
    (template / "1").mkdir(parents=True)
    (template / "config.pbtxt").write_bytes(USER_TEMPLATE.joinpath("config.pbtxt").read_bytes())
    (template / "1" / "model.py").write_text("# model\n")
    adapter = tmp_path / "a.safetensors"
    adapter.write_bytes(b"weights")
    mid = keys.new_model_id()
    out = package_user_model(mid, adapter, {"token": "sks"}, tmp_path / "m.tar.gz", template_dir=template)
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        meta = json.load(tar.extractfile(f"{mid}/1/{Triton.METADATA_FILE}"))
        config = tar.extractfile(f"{mid}/config.pbtxt").read().decode()
    assert (
        names
        == set(artifact_members(mid))
        == {
            f"{mid}/config.pbtxt",
            f"{mid}/1/{Triton.ADAPTER_FILE}",
            f"{mid}/1/{Triton.METADATA_FILE}",
        }
    )
    assert meta == {"token": "sks"}
    assert f'backend: "{Triton.USER_BACKEND}"' in config and '"python"' not in config


def test_the_template_holds_no_code():
    files = sorted(p.relative_to(USER_TEMPLATE).as_posix() for p in USER_TEMPLATE.rglob("*") if p.is_file())
    assert files == ["config.pbtxt"]


# ---- <<TOK>>, LoRA targets, safe tar members, the multi-model name ----------------------------------


def test_placeholder_stands_for_the_token_and_the_class_noun():
    ours = {"token": "sks", "class_prompt": "a photo of person"}
    assert personalize("a photo of <<TOK>>", ours) == "a photo of sks person"
    assert personalize("photo of <<TOK>> epic portrait", ours) == "photo of sks person epic portrait"
    assert personalize("<<TOK>> and <<TOK>>", {"token": "zwx", "class_noun": "dog"}) == "zwx dog and zwx dog"
    assert token_phrase({"token": "zwx", "class_prompt": ""}) == "zwx person"
    assert personalize("no placeholder", {}) == "no placeholder"
    with pytest.raises(MissingTokenError):
        personalize("a photo of <<TOK>>", {"class_prompt": "a photo of person"})


def test_default_prompts_do_not_repeat_the_class_noun():
    defaults = TrainingHyperparameters()
    assert defaults.token is None  # the service picks one (avatar_contract.instance_tokens)
    rendered = training_prompts(
        "wud", defaults.instance_prompt, defaults.class_prompt, defaults.validation_prompts, "person"
    )
    assert rendered == [
        "a photo of wud person",
        "a photo of person",
        "a photo of wud person outdoors in a park, smiling",  # a new context
        "a portrait of wud person, oil painting",  # a style
    ]


def test_the_training_config_always_names_its_token():
    config = {
        "training_id": "t",
        "model_id": "m",
        "owner": "o",
        "model_s3_uri": "s3://b/models/o/m.tar.gz",
        "preview_s3_prefix": "s3://b/p/",
    }
    assert TrainingConfig(**config).token == "sks"  # the reference's layout names none
    assert TrainingConfig(**config, token="wud").token == "wud"
    with pytest.raises(ValidationError, match="token"):
        TrainingConfig(**config, token=None)


def test_instance_token_candidates_are_short_and_the_pick_is_per_owner():
    assert all(
        re.fullmatch(r"[a-z]{3}", token) and 40000 < clip_id < 49408 for token, clip_id in CANDIDATES.items()
    )
    assert pick_token("owner-a") == pick_token("owner-a") in CANDIDATES
    assert len({pick_token(f"owner-{n}") for n in range(200)}) == len(CANDIDATES)  # spread over all
    first = pick_token("owner-a")
    assert pick_token("owner-a", refused=lambda token: token == first) != first
    with pytest.raises(NoTokenLeft):
        pick_token("owner-a", refused=lambda _: True)


def test_the_class_noun_is_a_word_of_the_class_prompt_and_tok_renders_it() -> None:
    from avatar_contract.training import effective_class_noun

    lit = TrainingHyperparameters(class_prompt="a photo of a person, natural light")
    assert effective_class_noun(lit) == "person"  # not "light", the prompt's last word
    woman = TrainingHyperparameters(class_prompt="a photo of a woman, natural light", class_noun="woman")
    assert personalize(
        "<<TOK>> at the beach", {"token": "zwx", "class_noun": effective_class_noun(woman)}
    ) == ("zwx woman at the beach")
    assert effective_class_noun(TrainingHyperparameters(class_prompt="a photo of dog")) == "dog"
    with pytest.raises(ValidationError, match="class_noun 'cat' is not a word of class_prompt"):
        TrainingHyperparameters(class_prompt="a photo of a person", class_noun="cat")


def test_lora_targets_are_the_attention_projections():
    assert UNET_TARGET_MODULES == ("to_k", "to_q", "to_v", "to_out.0")
    assert TEXT_ENCODER_TARGET_MODULES == ("q_proj", "k_proj", "v_proj", "out_proj")


def _member(name: str, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (_member("../evil"), "leaves the archive"),
        (_member("a/../../evil"), "leaves the archive"),
        (_member("/etc/passwd"), "absolute path"),
        (_member("C:/evil"), "absolute path"),
        (_member("link", tarfile.SYMTYPE), "is a link"),
        (_member("hard", tarfile.LNKTYPE), "is a link"),
        (_member("dev", tarfile.CHRTYPE), "special file"),
        (_member("fifo", tarfile.FIFOTYPE), "special file"),
    ],
)
def test_unsafe_members_are_refused(member: tarfile.TarInfo, reason: str):
    with pytest.raises(UnsafeArchiveError, match=reason):
        check_member(member)


def test_safe_extract_writes_nothing_when_one_member_is_unsafe(tmp_path):
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("m-1/1/ok.txt", "../escaped.txt"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(UnsafeArchiveError, match="leaves the archive"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "escaped.txt").exists()
    assert check_member(_member("./m-1//1/ok.txt")) == "m-1/1/ok.txt"


def test_multi_model_name_is_one_stable_path_segment_per_target():
    target = keys.target_model(OWNER, keys.new_model_id())
    name = model_name_for(target)
    assert name == model_name_for(target) and len(name) == 32 and set(name) <= set("0123456789abcdef")
    assert "/" in target and "/" not in name
    assert name != model_name_for(target.replace(".tar.gz", "x.tar.gz"))
    with pytest.raises(ValueError):
        model_name_for("")


def test_checkpoint_selection_is_on_by_default_and_bounded():
    from avatar_contract.training import MAX_CHECKPOINTS, checkpoint_steps

    assert checkpoint_steps(TrainingHyperparameters()) == [200, 400, 600, 800, 1000]  # on by default
    assert checkpoint_steps(TrainingHyperparameters(face_crop=False)) == []  # nothing to score against
    assert checkpoint_steps(TrainingHyperparameters(checkpoint_every_steps=0)) == []
    on = TrainingHyperparameters(max_train_steps=800, checkpoint_every_steps=200)
    assert checkpoint_steps(on) == [200, 400, 600, 800] and on.checkpoint_selection == "best_identity"
    assert checkpoint_steps(TrainingHyperparameters(max_train_steps=100, checkpoint_every_steps=500)) == [100]
    with pytest.raises(ValidationError, match="needs face_crop"):
        TrainingHyperparameters(checkpoint_every_steps=200, face_crop=False)
    with pytest.raises(ValidationError, match=f"make 11 checkpoints; at most {MAX_CHECKPOINTS}"):
        TrainingHyperparameters(max_train_steps=1100, checkpoint_every_steps=100)
    with pytest.raises(ValidationError, match="checkpoint_selection"):
        TrainingHyperparameters(checkpoint_every_steps=200, checkpoint_selection="first")


def test_no_validation_prompts_means_no_previews_and_no_checkpoint_selection() -> None:
    from avatar_contract.training import checkpoint_steps

    assert checkpoint_steps(TrainingHyperparameters(max_train_steps=1000)) != []  # on by default
    assert checkpoint_steps(TrainingHyperparameters(max_train_steps=1000, validation_prompts=[])) == []
