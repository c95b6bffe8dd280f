"""The trainings function decodes selfies with the training container's decoder (face_analysis.decode):
malformed EXIF refuses that image by position, 16-bit, transparent and CMYK selfies are screened as the
faces they show, and a TIFF, BMP, GIF or WebP is refused with what it is. The awkward files are generated
(tests/fixtures/image_corpus.py); the faces are real (tests/fixtures/faces.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.fixtures.api import b64, image_bytes, response_json
from tests.fixtures.api_backend import DATA_BUCKET, Api
from tests.fixtures.faces import face_variant
from tests.fixtures.image_corpus import MALFORMED_EXIF, OTHER_FORMATS, encoded

SIZE = (300, 300)


def _grey16_png(seed: int) -> bytes:
    """The face as a 16-bit greyscale PNG (Pillow opens it as I;16; its own convert() gives white)."""
    levels = np.asarray(face_variant(seed, SIZE).convert("L"), dtype=np.uint16) * 257
    return encoded(Image.fromarray(levels), "PNG")


def _rgba_png(seed: int) -> bytes:
    """The face inside an opaque ellipse, the corners fully transparent over black."""
    face = face_variant(seed, SIZE)
    alpha = Image.new("L", SIZE, 0)
    ImageDraw.Draw(alpha).ellipse((24, 6, SIZE[0] - 24, SIZE[1] - 6), fill=255)
    image = Image.composite(face, Image.new("RGB", SIZE, (0, 0, 0)), alpha).convert("RGBA")
    image.putalpha(alpha)
    return encoded(image, "PNG")


def _cmyk_jpeg(seed: int) -> bytes:
    return encoded(face_variant(seed, SIZE).convert("CMYK"), "JPEG", quality=92)


def _body(images: list[bytes], **extra: object) -> dict:
    return {"images": [{"data": b64(data)} for data in images], **extra}


def _selfies_with(position: int, data: bytes) -> list[bytes]:
    images = [image_bytes("JPEG", seed=i) for i in range(10)]
    images[position] = data
    return images


def _stored_keys(api: Api) -> list[str]:
    return [item["Key"] for item in api.s3.list_objects_v2(Bucket=DATA_BUCKET).get("Contents", [])]


def test_sixteen_bit_transparent_and_cmyk_selfies_are_screened_as_the_faces_they_show(api: Api) -> None:
    awkward = [_grey16_png(10), _rgba_png(11), _cmyk_jpeg(12)]
    images = [image_bytes("JPEG", seed=i) for i in range(7)] + awkward
    # What the function decoded before: Pillow's plain conversion clips the 16-bit face to white.
    plain = np.asarray(Image.open(io.BytesIO(awkward[0])).convert("RGB"))
    assert (plain == 255).mean() > 0.95

    response = api.call("POST", "/trainings", _body(images, dry_run=True))

    assert response["statusCode"] == 200, response["body"]
    verdicts = response_json(response)["images"]
    assert [(v["index"], v["usable"], v["reason"]) for v in verdicts[7:]] == [
        (7, True, None),
        (8, True, None),
        (9, True, None),
    ]
    assert all(v["faces"] == 1 for v in verdicts)
    api.queue_training()
    assert api.call("POST", "/trainings", _body(images))["statusCode"] == 202


@pytest.mark.parametrize("name", sorted(MALFORMED_EXIF))
@pytest.mark.parametrize("dry_run", [False, True])
def test_malformed_exif_refuses_the_request_naming_that_image(api: Api, name: str, dry_run: bool) -> None:
    response = api.call("POST", "/trainings", _body(_selfies_with(3, MALFORMED_EXIF[name]), dry_run=dry_run))

    assert response["statusCode"] == 400, response["body"]
    error = response_json(response)["error"]
    assert error["code"] == "invalid_request"
    assert error["message"].startswith("images[3]: malformed EXIF metadata ("), error["message"]
    assert api.training.calls == [] and _stored_keys(api) == []


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("really-a-tiff.jpg", "TIFF"),
        ("really-a-bmp.png", "BMP"),
        ("really-a-gif.webp", "GIF"),
        ("really-a-psd.jpg", "PSD"),
    ],
)
def test_other_formats_are_refused_with_what_they_are(api: Api, name: str, kind: str) -> None:
    response = api.call("POST", "/trainings", _body(_selfies_with(2, OTHER_FORMATS[name])))

    assert response["statusCode"] == 400, response["body"]
    message = response_json(response)["error"]["message"]
    assert message == f"images[2]: only JPEG and PNG images are accepted, not {kind}"
    assert api.training.calls == [] and _stored_keys(api) == []


def test_webp_is_refused_by_the_api_though_the_container_decodes_it(api: Api) -> None:
    webp = encoded(face_variant(0, SIZE), "WEBP", quality=90)
    response = api.call("POST", "/trainings", _body(_selfies_with(5, webp), dry_run=True))
    assert response["statusCode"] == 400
    assert response_json(response)["error"]["message"] == (
        "images[5]: only JPEG and PNG images are accepted, not WebP"
    )
