"""Selfie screening in the `trainings` function: `dry_run` answers each image's verdict and starts
nothing; a real request the training would refuse is refused with 422 listing every reason. Real
public-domain portraits (tests/fixtures/faces.py)."""

from __future__ import annotations

from functools import lru_cache

from tests.fixtures.api import b64, response_json
from tests.fixtures.api_backend import DATA_BUCKET, Api
from tests.fixtures.faces import encoded, faceless, selfies


@lru_cache(maxsize=4)
def _images(astronauts: int, hoppers: int, objects: int) -> tuple[str, ...]:
    images = {
        **encoded(selfies("astronaut", astronauts, seed=0)),
        **encoded(selfies("hopper", hoppers, seed=1)),
        **encoded(dict(list(faceless().items())[:objects])),
    }
    return tuple(b64(data) for data in images.values())


def _body(images: tuple[str, ...], **extra: object) -> dict:
    return {"images": [{"data": data} for data in images], **extra}


def _stored_keys(api: Api) -> list[str]:
    return [item["Key"] for item in api.s3.list_objects_v2(Bucket=DATA_BUCKET).get("Contents", [])]


def test_dry_run_reports_each_image_and_starts_nothing(api: Api) -> None:
    images = _images(10, 3, 0)  # ten of the astronaut, three of Grace Hopper
    response = api.call("POST", "/trainings", _body(images, dry_run=True))

    assert response["statusCode"] == 200, response["body"]
    report = response_json(response)
    assert report["dry_run"] is True and report["would_train"] is True
    assert (report["usable_images"], report["min_usable_images"]) == (10, 8)
    verdicts = report["images"]
    assert [v["index"] for v in verdicts] == list(range(13))
    assert all(v["usable"] and v["reason"] is None and v["crop_box"]["size"] > 0 for v in verdicts[:10])
    for verdict in verdicts[10:]:
        assert (verdict["usable"], verdict["reason"], verdict["crop_box"]) == (
            False,
            "different_person",
            None,
        )
        assert "different person" in verdict["message"] and verdict["identity_distance"] >= 0.6
    assert api.training.calls == [] and _stored_keys(api) == []


def test_dry_run_of_a_set_that_cannot_train_still_answers_200_with_the_reasons(api: Api) -> None:
    response = api.call("POST", "/trainings", _body(_images(8, 0, 2), dry_run=True))
    report = response_json(response)
    assert response["statusCode"] == 200 and report["usable_images"] == 8
    assert [v["reason"] for v in report["images"][8:]] == ["no_face", "no_face"]
    strict = response_json(
        api.call("POST", "/trainings", _body(_images(8, 0, 2), dry_run=True, config={"min_usable_images": 9}))
    )
    assert strict["would_train"] is False


def test_a_set_with_too_few_usable_faces_is_refused_with_every_reason(api: Api) -> None:
    body = _body(_images(8, 0, 2), config={"min_usable_images": 9})
    response = api.call("POST", "/trainings", body, headers={"Idempotency-Key": "k1"})

    assert response["statusCode"] == 422, response["body"]
    error = response_json(response)["error"]
    assert error["code"] == "not_enough_usable_images"
    assert error["message"].startswith("8 usable image(s), at least 9 needed")
    assert "images[8]: no_face" in error["message"] and "images[9]: no_face" in error["message"]
    assert api.training.calls == [] and _stored_keys(api) == []  # the idempotency claim is gone too


def test_enough_usable_faces_start_the_training_and_face_crop_off_skips_the_screening(api: Api) -> None:
    api.queue_training()
    assert api.call("POST", "/trainings", _body(_images(8, 0, 2)))["statusCode"] == 202
    api.queue_training()
    objects = _body(_images(0, 0, 2) * 5, config={"face_crop": False})
    assert api.call("POST", "/trainings", objects)["statusCode"] == 202
