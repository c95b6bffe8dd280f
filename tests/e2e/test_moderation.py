"""Content moderation on the local cloud (docs/moderation.md), through the moderation STAND-INS: a blocked
prompt is 422 before the endpoint loads anything, a deny-listed prompt is 422, a flagged generated image is
withheld while the other is returned, and a flagged selfie refuses the training."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from avatar_client.client import AvatarApiError
from local_cloud import LocalCloud
from local_cloud.moderation import IMAGE_MARKER_KEY
from local_cloud.selfies import make_selfies, to_jpeg
from tests.e2e.helpers import DENIED, FAST_TRAINING, NotificationInbox, client_for

pytestmark = pytest.mark.slow
GEN = {"width": 64, "height": 64, "num_inference_steps": 2, "seed": 11}


def _png(image: Image.Image, marker: str | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    if marker:
        info.add_text(IMAGE_MARKER_KEY, marker)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model(cloud: LocalCloud, inbox: NotificationInbox) -> dict[str, Any]:
    client = client_for(cloud, cloud.principals[0])
    accepted = client.start_training(
        [to_jpeg(i) for i in make_selfies(10)], model_name="moderated", config=FAST_TRAINING, prepare=False
    )
    notification, _ = inbox.wait_for(accepted["training_id"])
    assert notification.status == "completed"
    return accepted


def test_a_flagged_selfie_refuses_the_training(cloud: LocalCloud) -> None:
    client = client_for(cloud, cloud.principals[0])
    selfies = [_png(image) for image in make_selfies(10)]
    selfies[4] = _png(make_selfies(10)[4], "Explicit")
    with pytest.raises(AvatarApiError) as raised:
        client.start_training(selfies, model_name="refused", config=FAST_TRAINING, prepare=False)
    assert raised.value.status == 422 and raised.value.code == "content_blocked"
    assert "images[4]: refused by content moderation (Explicit)" in str(raised.value)


def test_blocked_prompts_never_reach_the_endpoint(cloud: LocalCloud, model: dict[str, Any]) -> None:
    client = client_for(cloud, cloud.principals[0])
    for prompt, says in [
        ("a photo of <<TOK>> ready to murder", "VIOLENCE_OR_THREAT"),  # the stand-in's keyword classifier
        (f"a photo of <<TOK>> riding a {DENIED}", "deny list"),
    ]:
        with pytest.raises(AvatarApiError) as raised:
            client.generate(model["model_id"], prompt, **GEN)
        assert raised.value.status == 422 and raised.value.code == "content_blocked"
        assert says in str(raised.value)
    host = cloud.runtime.host(cloud.settings.hosting_endpoint) if cloud.runtime else None
    target = f"{cloud.owner_id(cloud.principals[0])}/{model['model_id']}.tar.gz"
    assert host is None or target not in host.loaded_models()  # nothing was invoked, nothing loaded


def test_a_flagged_output_is_withheld_and_the_other_returned(
    cloud: LocalCloud, model: dict[str, Any]
) -> None:
    client = client_for(cloud, cloud.principals[0])
    clean = client.generate(model["model_id"], "a photo of <<TOK>>", num_images=2, **GEN)
    assert len(clean.images) == 2 and all(item["blocked"] is None for item in clean.response["images"])
    assert cloud.moderation is not None
    cloud.moderation.flag_image(clean.images[0], "Explicit")  # the stand-in's marker for these bytes

    again = client.generate(model["model_id"], "a photo of <<TOK>>", num_images=2, **GEN)

    first, second = again.response["images"]
    assert first["data"] is None and first["blocked"]["labels"][0]["category"] == "Explicit"
    assert second["blocked"] is None
    assert again.images == [clean.images[1]]  # same seed, same pixels: the unflagged one is returned


def test_an_app_chosen_token_is_moderated_where_the_model_reads_it(cloud: LocalCloud) -> None:
    client = client_for(cloud, cloud.principals[0])
    with pytest.raises(AvatarApiError) as raised:  # "a photo of naked person": the stand-in's SEXUAL
        client.start_training(
            [to_jpeg(i) for i in make_selfies(10)], config={**FAST_TRAINING, "token": "naked"}, prepare=False
        )
    assert raised.value.status == 422 and raised.value.code == "content_blocked"
    assert "SEXUAL" in str(raised.value)


def test_a_flagged_preview_is_withheld_with_its_labels(cloud: LocalCloud, model: dict[str, Any]) -> None:
    assert model["token"]  # the service picked the token
    s3 = cloud.client("s3")
    prefix = f"trainings/{cloud.owner_id(cloud.principals[0])}/{model['training_id']}/previews/"
    listed = s3.list_objects_v2(Bucket=cloud.settings.data_bucket, Prefix=prefix).get("Contents", [])
    first = sorted(item["Key"] for item in listed)[0]
    assert cloud.moderation is not None  # flagged before the status is first read: screened then
    cloud.moderation.flag_image(
        s3.get_object(Bucket=cloud.settings.data_bucket, Key=first)["Body"].read(), "Explicit"
    )

    status = client_for(cloud, cloud.principals[0]).get_training(model["training_id"])

    assert status["status"] == "completed"
    assert [item["index"] for item in status["previews_withheld"]] == [0]
    assert status["previews_withheld"][0]["labels"][0]["category"] == "Explicit"
    assert all(first not in url for url in status["preview_urls"])
