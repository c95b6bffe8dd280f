"""The instance token (docs/training.md) and moderation of prompts as the model renders them
(docs/moderation.md): through the real handlers on moto, Comprehend and SSM answered by botocore's Stubber."""

from __future__ import annotations

import json

from avatar_api.domain.trainings import NewTraining
from avatar_api.domain.uploads import ImageSource, InlineImage
from avatar_api.services import get_services
from avatar_contract.instance_tokens import CANDIDATES, pick_token
from avatar_contract.training import TrainingHyperparameters
from tests.fixtures.api import ALICE, owner_id, response_json, selfies
from tests.fixtures.api_backend import Api
from tests.fixtures.moderation import StubbedModeration, ready_model

OWNER = owner_id(ALICE)


def sent_texts(stub: StubbedModeration) -> list[str]:
    return [
        segment["Text"]
        for name, params in stub.calls
        if name == "DetectToxicContent"
        for segment in params["TextSegments"]
    ]


def clean_selfies(stub: StubbedModeration, count: int = 10) -> list[dict[str, str]]:
    for _ in range(count):
        stub.queue_labels()
    return selfies(count)


def test_the_service_picks_a_rare_token_and_moderates_the_prompts_it_renders(
    api: Api, moderation: StubbedModeration
) -> None:
    moderation.queue_deny_list("")
    moderation.queue_scores({}, {}, {})
    api.queue_training()
    body = {"images": clean_selfies(moderation), "config": {"class_prompt": "a photo of woman"}}
    response = api.call("POST", "/trainings", body)
    assert response["statusCode"] == 202, response["body"]
    accepted = response_json(response)

    token = accepted["token"]
    assert token == pick_token(OWNER) and token in CANDIDATES
    assert sent_texts(moderation) == [
        f"a photo of {token} woman",
        "a photo of woman",
        f"a photo of {token} woman outdoors in a park, smiling",  # the default validation prompts
        f"a portrait of {token} woman, oil painting",
    ]
    assert api.packaged_config(OWNER, accepted["training_id"]).token == token  # what the trainer renders with
    record = get_services().records.load(OWNER, accepted["training_id"])
    assert record is not None and (record.token, record.class_noun) == (token, "woman")


def test_the_service_skips_a_deny_listed_candidate(api: Api, moderation: StubbedModeration) -> None:
    first = pick_token(OWNER)
    moderation.queue_deny_list(f"{first}\n")
    moderation.queue_scores({}, {}, {})
    api.queue_training()
    accepted = response_json(api.call("POST", "/trainings", {"images": clean_selfies(moderation)}))
    names = list(CANDIDATES)
    assert accepted["token"] == names[(names.index(first) + 1) % len(names)]


def test_an_app_chosen_token_is_moderated_in_the_rendered_prompts(
    api: Api, moderation: StubbedModeration
) -> None:
    moderation.queue_deny_list("")
    moderation.queue_scores({"SEXUAL": 0.97}, {}, {"SEXUAL": 0.97})
    body = {"images": selfies(), "config": {"token": "naked"}}
    response = api.call("POST", "/trainings", body)

    assert response["statusCode"] == 422, response["body"]
    assert response_json(response)["error"]["code"] == "content_blocked"
    assert sent_texts(moderation)[0] == "a photo of naked person"
    assert api.training.calls == [] and api.object_keys() == []


def test_an_app_chosen_token_on_the_deny_list_is_refused(api: Api, moderation: StubbedModeration) -> None:
    moderation.queue_deny_list("# deployer's list\nnaked\n")
    response = api.call("POST", "/trainings", {"images": selfies(), "config": {"token": "naked"}})
    assert response["statusCode"] == 422 and "deny list" in response_json(response)["error"]["message"]
    assert moderation.operations() == ["GetParameter"] and api.object_keys() == []


def test_a_generation_prompt_is_moderated_with_the_models_token(
    api: Api, moderation: StubbedModeration
) -> None:
    model_id = ready_model(api, OWNER, token="naked")  # a model trained before tokens were moderated
    moderation.queue_deny_list("naked\n")
    response = api.call(
        "POST", f"/models/{model_id}/generations", {"prompt": "<<TOK>> on a beach", "seed": 1}
    )
    assert response["statusCode"] == 422 and "deny list" in response_json(response)["error"]["message"]
    assert api.hosting.calls == []


def test_a_legacy_models_token_comes_from_its_artifact(api: Api, moderation: StubbedModeration) -> None:
    metadata = {"token": "nude", "class_prompt": "a photo of woman"}
    model_id = ready_model(api, OWNER, token=None, metadata=metadata)
    moderation.queue_deny_list("")
    moderation.queue_scores({"SEXUAL": 0.97})
    response = api.call(
        "POST", f"/models/{model_id}/generations", {"prompt": "a portrait of <<TOK>>", "seed": 1}
    )
    assert response["statusCode"] == 422, response["body"]
    assert sent_texts(moderation) == ["a portrait of nude woman"]
    assert api.hosting.calls == []


def test_a_model_without_a_readable_token_is_not_generated_from(
    api: Api, moderation: StubbedModeration
) -> None:
    model_id = ready_model(api, OWNER, token=None)  # an artifact that is no archive
    response = api.call("POST", f"/models/{model_id}/generations", {"prompt": "<<TOK>> smiling", "seed": 1})
    assert response["statusCode"] == 502 and api.hosting.calls == []
    assert json.loads(response["body"])["error"]["code"] == "upstream_error"


def test_an_idempotency_key_used_before_the_service_picked_tokens_still_replays() -> None:
    # Before, a request without `token` was fingerprinted with the default `sks` filled in.
    images: list[ImageSource] = [InlineImage(b"selfie")]
    without = NewTraining(images=images, hyperparameters=TrainingHyperparameters())
    with_sks = NewTraining(images=images, hyperparameters=TrainingHyperparameters(token="sks"))
    assert without.fingerprint() == with_sks.fingerprint()
    other = NewTraining(images=images, hyperparameters=TrainingHyperparameters(token="wud"))
    assert other.fingerprint() != without.fingerprint()
