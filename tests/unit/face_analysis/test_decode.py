"""Decoding selfies (face_analysis.decode, shared by the API and the training container): malformed EXIF
rejects one image, every mode converts to what it shows, and only the accepted formats are decoded (the
corpus is generated in tests/fixtures/image_corpus.py)."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageOps

from face_analysis.decode import (
    NotAcceptedFormat,
    TooManyPixels,
    UnusableImage,
    decode,
    decode_image,
    sniff,
)
from tests.fixtures.image_corpus import (
    CONVERSIONS,
    MALFORMED_EXIF,
    ODD_EXIF,
    OTHER_FORMATS,
    SIDE,
    encoded,
)
from tests.fixtures.training_samples import face_photos

MAX_PIXELS = 4_000_000


@pytest.mark.parametrize("name", list(MALFORMED_EXIF))
def test_malformed_exif_rejects_that_image_with_a_reason(name: str) -> None:
    data = MALFORMED_EXIF[name]
    image = Image.open(io.BytesIO(data))
    with pytest.raises(Exception) as plain:  # what crashed the whole training before
        ImageOps.exif_transpose(image)
    with pytest.raises(UnusableImage) as caught:
        decode_image(data, MAX_PIXELS)
    assert caught.value.reason.startswith("malformed EXIF metadata")
    assert type(plain.value).__name__ in caught.value.reason


@pytest.mark.parametrize("name", list(ODD_EXIF))
def test_harmless_odd_exif_is_decoded(name: str) -> None:
    assert decode_image(ODD_EXIF[name], MAX_PIXELS).size == (2 * SIDE, SIDE)


@pytest.mark.parametrize("name", list(CONVERSIONS))
def test_modes_convert_to_what_the_image_shows(name: str) -> None:
    data, left, right = CONVERSIONS[name]
    image = decode_image(data, MAX_PIXELS)
    assert image.mode == "RGB" and image.size == (SIDE, SIDE)
    for (x, y), expected in (((SIDE // 4, SIDE // 2), left), ((3 * SIDE // 4, SIDE // 2), right)):
        got = image.getpixel((x, y))
        assert max(abs(a - b) for a, b in zip(got, expected, strict=True)) <= 3, (name, (x, y), got)


def test_plain_conversion_would_have_been_wrong() -> None:
    """The corpus shows the bugs: Pillow's own convert() clips 16-bit grey to white and turns
    transparency black."""
    grey = Image.open(io.BytesIO(CONVERSIONS["grey16-mid.png"][0]))
    assert grey.convert("RGB").getpixel((0, 0)) == (255, 255, 255)
    rgba = Image.open(io.BytesIO(CONVERSIONS["rgba.png"][0]))
    assert rgba.convert("RGB").getpixel((3 * SIDE // 4, SIDE // 2)) == (0, 0, 0)


@pytest.mark.parametrize("name", list(OTHER_FORMATS))
def test_only_jpeg_png_and_webp_are_decoded(name: str) -> None:
    with pytest.raises(UnusableImage, match="not a JPEG, PNG or WebP"):
        decode_image(OTHER_FORMATS[name], MAX_PIXELS)


def test_pillow_alone_would_decode_the_other_formats() -> None:
    for name in ("really-a-tiff.jpg", "really-a-bmp.png", "really-a-gif.webp"):
        assert Image.open(io.BytesIO(OTHER_FORMATS[name])).format in {"TIFF", "BMP", "GIF"}


def test_a_truncated_jpeg_is_rejected_with_a_reason() -> None:
    whole = face_photos(1)["selfie-00.jpg"]
    for cut in (600, len(whole) // 2):
        with pytest.raises(UnusableImage, match="not a readable image"):
            decode_image(whole[:cut], MAX_PIXELS)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("really-a-tiff.jpg", "TIFF"), ("really-a-bmp.png", "BMP"), ("really-a-gif.webp", "GIF")],
)
def test_a_refused_format_is_named(name: str, kind: str) -> None:
    assert sniff(OTHER_FORMATS[name]) == kind
    with pytest.raises(NotAcceptedFormat, match=f"not a JPEG or PNG file: it is a {kind} file"):
        decode(OTHER_FORMATS[name], MAX_PIXELS, formats=("JPEG", "PNG"))


def test_the_caller_chooses_the_formats() -> None:
    webp, _, _ = CONVERSIONS["rgba.webp"]
    assert decode(webp, MAX_PIXELS).format == "WEBP"
    with pytest.raises(NotAcceptedFormat, match="not a JPEG or PNG file: it is a WebP file"):
        decode(webp, MAX_PIXELS, formats=("JPEG", "PNG"))
    assert decode(CONVERSIONS["cmyk.jpg"][0], MAX_PIXELS, formats=("JPEG", "PNG")).format == "JPEG"


def test_too_many_pixels_is_its_own_kind() -> None:
    big = encoded(Image.new("L", (3000, 3000)), "PNG")  # 9 MP, a few KB on disk
    with pytest.raises(TooManyPixels, match="3000x3000"):
        decode(big, MAX_PIXELS)


# --- decode_reduced: the API's bounded decoding (issue 21 M3) ---------------------------------------


def _encoded(image, fmt: str, **options) -> bytes:  # type: ignore[no-untyped-def]
    import io

    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_a_large_jpeg_is_decoded_at_a_reduced_dct_scale() -> None:
    from unittest import mock

    from PIL import Image, JpegImagePlugin

    from face_analysis.decode import decode_reduced

    data = _encoded(Image.new("RGB", (4800, 3200), (200, 150, 100)), "JPEG")
    decoded_sizes = []
    load = JpegImagePlugin.JpegImageFile.load

    def spy(self):  # type: ignore[no-untyped-def]
        decoded_sizes.append(self.size)
        return load(self)

    with mock.patch.object(JpegImagePlugin.JpegImageFile, "load", spy):
        reduced = decode_reduced(data, 40_000_000, 800, 1_000_000)
    assert set(decoded_sizes) == {(1200, 800)}  # 1/4: the full 15 M-pixel bitmap never existed
    assert (reduced.image.size, reduced.size, reduced.format) == ((800, 533), (4800, 3200), "JPEG")
    assert reduced.image.mode == "RGB" and reduced.image.getpixel((400, 266))[0] in range(195, 206)


def test_a_png_over_the_decoded_pixel_cap_is_refused_from_its_header() -> None:
    from unittest import mock

    import pytest
    from PIL import Image, PngImagePlugin

    from face_analysis.decode import TooManyPixels, decode_reduced

    bomb = _encoded(Image.new("RGB", (6300, 6300), (200, 180, 160)), "PNG")
    assert len(bomb) < 140_000  # 131 KB that would decode to 6300 x 6300 x 4 B = 159 MiB
    with (
        mock.patch.object(PngImagePlugin.PngImageFile, "load", side_effect=AssertionError("decoded")),
        pytest.raises(TooManyPixels, match=r"6300x6300 PNG images are decoded in full.*16777216"),
    ):
        decode_reduced(bomb, 40_000_000, 800, 4096 * 4096)


def test_reduced_decoding_keeps_orientation_and_modes() -> None:
    from PIL import Image

    from face_analysis.decode import decode_reduced

    image = Image.new("RGB", (2000, 1000), "red")
    exif = image.getexif()
    exif[0x0112] = 6  # shown rotated: 1000 x 2000
    reduced = decode_reduced(_encoded(image, "JPEG", exif=exif), 40_000_000, 800, 16_000_000)
    assert (reduced.image.size, reduced.size) == ((400, 800), (1000, 2000))
    palette = Image.new("P", (1700, 900))
    reduced = decode_reduced(_encoded(palette, "PNG"), 40_000_000, 800, 16_000_000)
    assert (reduced.image.mode, reduced.image.size, reduced.size) == ("RGB", (800, 424), (1700, 900))
    grey16 = Image.new("I;16", (1700, 900), 65535)
    reduced = decode_reduced(_encoded(grey16, "PNG"), 40_000_000, 800, 16_000_000)
    assert reduced.image.getpixel((10, 10)) == (255, 255, 255)
