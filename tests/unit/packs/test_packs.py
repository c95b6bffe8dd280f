"""Packs as data (docs/packs.md): the curated packs are valid and pass the API's prompt moderation as
rendered; operator files are validated with errors naming the field; GET /packs lists both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from avatar_api.adapters.moderation_aws import ModerationClients
from avatar_api.domain.moderation import Moderator
from avatar_api.domain.packs import ListedPack
from avatar_api.lambda_context import LocalContext
from avatar_contract import packs
from avatar_contract.instance_tokens import pick_token
from avatar_contract.moderation import INITIAL_DENY_LIST, ModerationPolicy
from avatar_contract.packs import PackError, curated_packs, load_operator_packs
from avatar_contract.prompts import personalize
from local_cloud.moderation import LEXICON, classify_text
from tests.fixtures.api import response_json, rest_event

OPERATOR_PACK = {
    "name": "garden-party",
    "title": "Garden party",
    "description": "Summer portraits outdoors.",
    "prompts": [{"prompt": "photo of <<TOK>> at a garden party, summer light", "images": 2}],
}


class LocalStandInClients(ModerationClients):
    """The deny list (the deployed initial list plus every word the local Comprehend stand-in flags) and
    the local Comprehend stand-in's classifier, without HTTP."""

    def deny_list(self) -> list[str]:
        entries = [line for line in INITIAL_DENY_LIST.splitlines() if line and not line.startswith("#")]
        return entries + [word for words in LEXICON.values() for word in words]

    def toxic_content(self, segments: list[str]) -> list[dict[str, Any]]:
        return [classify_text(segment) for segment in segments]


def test_curated_packs_are_valid_and_each_has_its_own_name() -> None:
    found = curated_packs()
    assert len(found) >= 4
    assert len({(pack.name, pack.family) for pack in found}) == len(found)
    for pack in found:
        assert pack.family == packs.DEFAULT_FAMILY and pack.source == "curated"
        assert all(packs.TOKEN_PLACEHOLDER in prompt.prompt for prompt in pack.prompts)


@pytest.mark.parametrize("class_noun", ["person", "man", "woman"])
def test_every_curated_prompt_passes_moderation_as_rendered(class_noun: str) -> None:
    metrics: list[str] = []
    moderator = Moderator(ModerationPolicy(), LocalStandInClients(), metrics.append)
    identity = {"token": pick_token("owner-of-the-test"), "class_noun": class_noun}
    for pack in curated_packs():
        for item in pack.prompts:
            rendered = personalize(item.prompt, identity)
            negative = item.negative_prompt or pack.negative_prompt or ""
            moderator.check_prompts([rendered])  # ContentBlocked would fail the test
            moderator.check_prompts([negative], field="negative_prompt")
    assert metrics == []


def test_the_moderation_check_can_fail() -> None:
    moderator = Moderator(ModerationPolicy(), LocalStandInClients(), lambda _: None)
    with pytest.raises(Exception, match="deny list"):
        moderator.check_prompts(["photo of sks person, nsfw"])


def test_an_operator_file_is_loaded_and_marked(tmp_path: Path) -> None:
    path = tmp_path / "packs.json"
    path.write_text(json.dumps({"packs": [OPERATOR_PACK]}))
    (pack,) = load_operator_packs(path)
    assert pack.source == "operator" and pack.images == 2 and pack.version == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prompts": [{"prompt": "a photo of a cat"}]}, r"prompts\.0\.prompt: .*<<TOK>>"),
        ({"prompts": [{"prompt": "<<TOK>>", "gen_args": {"seed": 3}}]}, "seed and num_images"),
        ({"prompts": [{"prompt": "<<TOK>>", "gen_args": {"hires": {"scale": 4}}}]}, r"hires\.scale"),
        ({"prompts": [{"prompt": "<<TOK>>", "images": 17}]}, r"prompts\.0\.images"),
        ({"name": "Not A Slug"}, r"packs\.0\.name"),
        ({"name": "astronaut"}, "has the name of a curated pack"),
        ({"colour": "red"}, r"packs\.0\.colour: Extra inputs"),
    ],
)
def test_an_invalid_operator_file_is_refused_naming_the_field(
    tmp_path: Path, change: dict, message: str
) -> None:
    path = tmp_path / "packs.json"
    path.write_text(json.dumps({"packs": [{**OPERATOR_PACK, **change}]}))
    with pytest.raises(PackError, match=message):
        load_operator_packs(path)


def test_unreadable_or_duplicate_operator_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="cannot be read"):
        load_operator_packs(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(PackError, match="not valid JSON"):
        load_operator_packs(tmp_path / "bad.json")
    (tmp_path / "twice.json").write_text(json.dumps({"packs": [OPERATOR_PACK, OPERATOR_PACK]}))
    with pytest.raises(PackError, match="appears twice"):
        load_operator_packs(tmp_path / "twice.json")


def test_get_packs_lists_curated_then_operator_packs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    path = tmp_path / "packs.json"
    path.write_text(json.dumps({"packs": [OPERATOR_PACK]}))
    monkeypatch.setenv(packs.OPERATOR_PACKS_ENV, str(path))
    from avatar_api.handlers import reads

    response = reads.lambda_handler(rest_event("GET", "/packs", resource="/packs"), LocalContext())
    assert response["statusCode"] == 200
    listed = [ListedPack.model_validate(p) for p in response_json(response)["packs"]]
    assert [p.name for p in listed] == [p.name for p in curated_packs()] + ["garden-party"]
    assert response_json(response)["packs"][-1]["total_images"] == 2 and listed[-1].source == "operator"


def test_get_packs_needs_a_signed_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    from avatar_api.handlers import reads

    event = rest_event("GET", "/packs", resource="/packs", user_arn=None)
    assert reads.lambda_handler(event, LocalContext())["statusCode"] == 403


@pytest.mark.parametrize(
    ("family_name", "valid"), [("sdxl-base-1.0", True), ("sd21-base", True), ("flux", False)]
)
def test_a_pack_names_one_of_the_base_families(family_name: str, valid: bool) -> None:
    document = {
        "name": "demo",
        "title": "Demo",
        "description": "A pack",
        "family": family_name,
        "prompts": [{"prompt": "a photo of <<TOK>>"}],
    }
    if valid:
        assert packs.Pack.model_validate(document).family == family_name
    else:
        with pytest.raises(ValidationError, match="family"):
            packs.Pack.model_validate(document)
