"""A completed training's previews are screened by the generations' image moderation before GET
/trainings/{id} lists or presigns them (docs/moderation.md, "Previews"); Rekognition answered by
botocore's Stubber."""

from __future__ import annotations

import pytest

from avatar_api.services import get_services
from avatar_contract import keys
from avatar_contract.moderation import ImageModeration, ModerationPolicy
from tests.fixtures.api import ALICE, image_bytes, owner_id, response_json, selfies
from tests.fixtures.api_backend import DATA_BUCKET, Api
from tests.fixtures.moderation import StubbedModeration
from tests.integration.api.helpers import put_successful_result

OWNER = owner_id(ALICE)


def completed_training(api: Api, previews: int = 2) -> tuple[str, list[str]]:
    """A training whose async output names `previews` previews (in its preview prefix)."""
    output, _ = api.queue_training()
    moderation, get_services().moderation = get_services().moderation, None  # submitted unmoderated
    accepted = response_json(api.call("POST", "/trainings", {"images": selfies()}))
    get_services().moderation = moderation
    tid, mid = accepted["training_id"], accepted["model_id"]
    preview_keys = [keys.preview_prefix(OWNER, tid) + f"preview-{n}.jpg" for n in range(previews)]
    for n, key in enumerate(preview_keys):
        api.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=image_bytes("JPEG", seed=n))
    put_successful_result(api, output, OWNER, accepted, preview_keys)
    api.published(OWNER, tid, mid)  # the publisher's verdict: only then is it completed (issue 21 M1)
    return tid, preview_keys


@pytest.fixture
def stub(moderation: StubbedModeration) -> StubbedModeration:
    return moderation


def rekognition_calls(stub: StubbedModeration) -> list[bytes]:
    return [params["Image"]["Bytes"] for name, params in stub.calls if name == "DetectModerationLabels"]


def test_a_flagged_preview_is_withheld_with_its_labels_and_screened_once(
    api: Api, stub: StubbedModeration
) -> None:
    tid, preview_keys = completed_training(api)
    stub.queue_labels(("Explicit", "", 97.5))
    stub.queue_labels()

    status = response_json(api.call("GET", f"/trainings/{tid}"))

    assert status["status"] == "completed"
    assert len(status["preview_urls"]) == 1 and preview_keys[1] in status["preview_urls"][0]
    assert status["previews_withheld"] == [
        {
            "index": 0,
            "reason": "content_blocked",
            "labels": [{"name": "Explicit", "category": "Explicit", "confidence": 97.5}],
        }
    ]
    assert rekognition_calls(stub) == [image_bytes("JPEG", seed=0), image_bytes("JPEG", seed=1)]
    assert stub.metrics == ["ContentBlockedPreviewExplicit"]

    again = response_json(api.call("GET", f"/trainings/{tid}"))  # the verdicts were kept: no new call
    assert again["previews_withheld"] == status["previews_withheld"] and len(again["preview_urls"]) == 1
    assert len(rekognition_calls(stub)) == 2


def test_previews_are_withheld_while_rekognition_fails_closed(api: Api, stub: StubbedModeration) -> None:
    tid, _ = completed_training(api, previews=1)
    stub.queue_error("rekognition", "detect_moderation_labels", "ThrottlingException")

    response = api.call("GET", f"/trainings/{tid}")

    assert response["statusCode"] == 200  # the status itself does not depend on Rekognition
    status = response_json(response)
    assert status["preview_urls"] == []
    assert status["previews_withheld"] == [{"index": 0, "reason": "moderation_unavailable", "labels": []}]
    assert stub.metrics == ["ModerationUnavailablePreview"]
    stub.queue_labels()  # the next read screens again
    assert len(response_json(api.call("GET", f"/trainings/{tid}"))["preview_urls"]) == 1


def test_previews_are_shown_when_rekognition_fails_open(api: Api) -> None:
    stub = StubbedModeration(ModerationPolicy(outputs=ImageModeration(on_failure="open")))
    get_services().moderation = stub.moderator
    tid, _ = completed_training(api, previews=1)
    stub.queue_error("rekognition", "detect_moderation_labels", "InternalServerError", 500)
    status = response_json(api.call("GET", f"/trainings/{tid}"))
    assert len(status["preview_urls"]) == 1 and status["previews_withheld"] == []


def test_listing_models_screens_nothing(api: Api, stub: StubbedModeration) -> None:
    completed_training(api)
    assert response_json(api.call("GET", "/models"))["models"][0]["status"] == "completed"
    assert rekognition_calls(stub) == []
