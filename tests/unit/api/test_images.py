"""The trainings function's image check decodes with face_analysis.decode, the training container's
decoder: every colour mode becomes what it shows, malformed EXIF and other formats are refused by field."""

from __future__ import annotations

import pytest
from PIL import Image

from avatar_api.domain.images import check_image
from avatar_api.errors import InvalidRequest, PayloadTooLarge
from tests.fixtures.image_corpus import CONVERSIONS, MALFORMED_EXIF, SIDE, encoded

# The API accepts JPEG and PNG only (the container also decodes WebP, for the reference's archives).
API_CONVERSIONS = {name: value for name, value in CONVERSIONS.items() if not name.endswith(".webp")}


def decoded(data: bytes) -> Image.Image:
    """The working-size image the screening sees."""
    seen: list[Image.Image] = []
    check_image(data, "images[0]", lambda image, _full_size: seen.append(image))
    return seen[0]


@pytest.mark.parametrize("name", sorted(API_CONVERSIONS))
def test_the_screened_pixels_are_what_the_image_shows(name: str) -> None:
    data, left, right = API_CONVERSIONS[name]
    image = decoded(data)
    assert image.mode == "RGB" and image.size == (SIDE, SIDE)
    for (x, y), expected in (((SIDE // 4, SIDE // 2), left), ((3 * SIDE // 4, SIDE // 2), right)):
        got = image.getpixel((x, y))
        assert max(abs(a - b) for a, b in zip(got, expected, strict=True)) <= 3, (name, (x, y), got)


@pytest.mark.parametrize("name", sorted(MALFORMED_EXIF))
def test_malformed_exif_is_refused_by_field(name: str) -> None:
    with pytest.raises(InvalidRequest, match=r"^images\[4\]: malformed EXIF metadata \("):
        check_image(MALFORMED_EXIF[name], "images[4]")


def test_the_size_checks_see_the_oriented_image() -> None:
    from PIL import Image

    image = Image.new("RGB", (200, 100), "red")
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    checked = check_image(encoded(image, "JPEG", exif=exif), "images[0]")
    assert (checked.width, checked.height, checked.extension) == (100, 200, "jpg")
    with pytest.raises(PayloadTooLarge, match=r"images\[1\]: image has too many pixels"):
        check_image(encoded(Image.new("1", (7000, 7000)), "PNG"), "images[1]")
