"""Content moderation through the real handlers on moto (docs/moderation.md): Comprehend and Rekognition
answered by botocore's Stubber with their real shapes, the SageMaker runtime's requests recorded."""

from __future__ import annotations

import base64

from avatar_api.services import get_services
from avatar_contract.moderation import ImageModeration, ModerationPolicy
from tests.fixtures.api import ALICE, header, owner_id, png, response_json, selfies
from tests.fixtures.api_backend import Api
from tests.fixtures.moderation import StubbedModeration
from tests.fixtures.moderation import ready_model as fixture_ready_model

OWNER = owner_id(ALICE)


def ready_model(api: Api) -> str:
    return fixture_ready_model(api, OWNER)


def generate(api: Api, model_id: str, prompt: str = "a portrait of <<TOK>>", images: int = 1) -> dict:
    return api.call(
        "POST", f"/models/{model_id}/generations", {"prompt": prompt, "num_images": images, "seed": 7}
    )


def test_a_flagged_prompt_is_422_before_any_invoke_endpoint(api: Api, moderation: StubbedModeration) -> None:
    model_id = ready_model(api)
    moderation.queue_deny_list("# none\n")
    moderation.queue_scores({"VIOLENCE_OR_THREAT": 0.93})

    response = generate(api, model_id, "a portrait of <<TOK>> about to murder someone")

    assert response["statusCode"] == 422, response["body"]
    error = response_json(response)["error"]
    assert error["code"] == "content_blocked" and "VIOLENCE_OR_THREAT" in error["message"]
    assert api.hosting.calls == []  # nothing reached the GPU
    assert moderation.metrics == ["ContentBlockedPromptViolenceOrThreat"]


def test_a_deny_listed_prompt_is_422_without_comprehend(api: Api, moderation: StubbedModeration) -> None:
    moderation.queue_deny_list("/\\bcelebrit(y|ies)\\b/\n")
    response = generate(api, ready_model(api), "<<TOK>> with a celebrity")
    assert response["statusCode"] == 422
    assert "deny list" in response_json(response)["error"]["message"]
    assert moderation.operations() == ["GetParameter"] and api.hosting.calls == []


def test_a_flagged_output_is_withheld_and_the_others_returned(
    api: Api, moderation: StubbedModeration
) -> None:
    moderation.queue_deny_list("")
    moderation.queue_scores({})
    api.hosting.queue_images([png(seed=1), png(seed=2), png(seed=3)])
    moderation.queue_labels()
    moderation.queue_labels(("Explicit", "", 99.1), ("Explicit Nudity", "Explicit", 98.0))
    moderation.queue_labels()

    response = generate(api, ready_model(api), images=3)

    assert response["statusCode"] == 200, response["body"]
    images = response_json(response)["images"]
    assert [base64.b64decode(images[i]["data"]) for i in (0, 2)] == [png(seed=1), png(seed=3)]
    assert images[1]["data"] is None and images[1]["url"] is None
    assert images[1]["blocked"]["labels"] == [
        {"name": "Explicit", "category": "Explicit", "confidence": 99.1},
        {"name": "Explicit Nudity", "category": "Explicit", "confidence": 98.0},
    ]
    sent = [params["Image"]["Bytes"] for name, params in moderation.calls if name == "DetectModerationLabels"]
    assert sent == [png(seed=1), png(seed=2), png(seed=3)]
    assert moderation.metrics == ["ContentBlockedOutputExplicit"]


def test_clean_output_is_unchanged(api: Api, moderation: StubbedModeration) -> None:
    moderation.queue_deny_list("")
    moderation.queue_scores({})
    api.hosting.queue_images([png(seed=4)])
    moderation.queue_labels(("Alcohol", "", 99.0))  # not a configured category
    images = response_json(generate(api, ready_model(api)))["images"]
    assert images == [
        {
            "content_type": "image/png",
            "data": base64.b64encode(png(seed=4)).decode(),
            "url": None,
            "blocked": None,
        }
    ]


def test_every_output_blocked_is_422(api: Api, moderation: StubbedModeration) -> None:
    moderation.queue_deny_list("")
    moderation.queue_scores({})
    api.hosting.queue_images([png(seed=1), png(seed=2)])
    moderation.queue_labels(("Violence", "", 95.0))
    moderation.queue_labels(("Visually Disturbing", "", 91.0))
    response = generate(api, ready_model(api), images=2)
    assert response["statusCode"] == 422
    assert response_json(response)["error"]["code"] == "content_blocked"


def test_rekognition_throttled_fails_closed_with_retry_after(api: Api, moderation: StubbedModeration) -> None:
    moderation.queue_deny_list("")
    moderation.queue_scores({})
    api.hosting.queue_images([png(seed=1)])
    moderation.queue_error("rekognition", "detect_moderation_labels", "ThrottlingException")
    response = generate(api, ready_model(api))
    assert response["statusCode"] == 503
    assert response_json(response)["error"]["code"] == "service_unavailable"
    assert int(header(response, "Retry-After") or 0) > 0


def test_outputs_configured_open_are_returned_when_rekognition_is_down(api: Api) -> None:
    stub = StubbedModeration(ModerationPolicy(outputs=ImageModeration(on_failure="open")))
    get_services().moderation = stub.moderator
    stub.queue_scores({})
    api.hosting.queue_images([png(seed=1)])
    stub.queue_error("rekognition", "detect_moderation_labels", "InternalServerError", 500)
    response = generate(api, ready_model(api))
    assert response["statusCode"] == 200
    assert base64.b64decode(response_json(response)["images"][0]["data"]) == png(seed=1)
    assert stub.metrics == ["ModerationUnavailableOutput"]


def test_a_flagged_validation_prompt_refuses_the_training(api: Api, moderation: StubbedModeration) -> None:
    moderation.queue_deny_list("")
    moderation.queue_scores({}, {}, {"SEXUAL": 0.99})  # instance, class, then the validation prompt
    body = {"images": selfies(), "config": {"validation_prompts": ["<<TOK>> naked on a beach"]}}
    response = api.call("POST", "/trainings", body)
    assert response["statusCode"] == 422, response["body"]
    assert "SEXUAL" in response_json(response)["error"]["message"]
    assert api.training.calls == [] and api.object_keys() == []


def test_a_flagged_selfie_refuses_the_training_and_writes_nothing(
    api: Api, moderation: StubbedModeration
) -> None:
    moderation.queue_deny_list("")
    moderation.queue_scores({}, {}, {})  # instance, class and the one validation prompt
    for index in range(10):
        moderation.queue_labels(*([("Explicit", "", 97.0)] if index == 3 else []))
    response = api.call("POST", "/trainings", {"images": selfies()})
    assert response["statusCode"] == 422, response["body"]
    error = response_json(response)["error"]
    assert error["code"] == "content_blocked" and error["message"].startswith("images[3]: refused")
    assert api.training.calls == [] and api.object_keys() == []
    assert moderation.metrics == ["ContentBlockedInputExplicit"]
