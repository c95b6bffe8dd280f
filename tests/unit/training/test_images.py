"""Image preparation: EXIF orientation, face screening and crops, center crops, rejects by name."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from tests.fixtures.image_corpus import CONVERSIONS, MALFORMED_EXIF, OTHER_FORMATS
from tests.fixtures.training_samples import face_photos, faceless_photos, jpeg
from training_service.errors import NotEnoughImages
from training_service.images import center_crop_box, decode_image, prepare_images

MAX_PIXELS = 4_000_000


def _astronaut_on_canvas() -> Image.Image:
    """The astronaut's photo pasted at the right of a wide grey canvas: a center crop misses the face."""
    canvas = Image.new("RGB", (1400, 512), (128, 128, 128))
    canvas.paste(Image.fromarray(data.astronaut()), (888, 0))
    return canvas


def _encoded(image: Image.Image) -> bytes:
    return jpeg(image)


def test_face_crop_keeps_the_face_where_center_crop_loses_it() -> None:
    canvas = _astronaut_on_canvas()
    prepared = prepare_images(
        {"wide.jpg": _encoded(canvas)}, 64, face_crop=True, min_usable=1, max_pixels=MAX_PIXELS
    )
    assert prepared.screening is not None
    [verdict] = prepared.screening.verdicts
    assert verdict.crop is not None and verdict.face is not None
    # The face (x about 1060-1150) is inside the square; the center square ends before it begins.
    assert verdict.crop.center_x - verdict.crop.size / 2 <= verdict.face.left
    assert verdict.face.left + verdict.face.side <= verdict.crop.center_x + verdict.crop.size / 2
    _, _, c_right, _ = center_crop_box(canvas.size)
    assert c_right <= verdict.face.left
    assert prepared.usable["wide.jpg"].size == (64, 64)


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (200, 100), "red")
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    assert decode_image(buffer.getvalue(), MAX_PIXELS).size == (100, 200)


def test_pixel_bomb_is_refused_before_decoding() -> None:
    buffer = io.BytesIO()
    Image.new("L", (3000, 3000)).save(buffer, format="PNG")  # 9 MP, a few KB on disk
    with pytest.raises(ValueError, match="pixels"):
        decode_image(buffer.getvalue(), MAX_PIXELS)


def test_prepare_crops_to_resolution_and_reports_rejects_by_name() -> None:
    images = {**face_photos(4), **faceless_photos(2), "broken.jpg": b"\xff\xd8\xff garbage", "tiny.png": b""}
    tiny = io.BytesIO()
    Image.new("RGB", (40, 40)).save(tiny, format="PNG")
    images["tiny.png"] = tiny.getvalue()
    prepared = prepare_images(images, 64, face_crop=True, min_usable=4, max_pixels=MAX_PIXELS)
    assert sorted(prepared.usable) == [f"selfie-{n:02d}.jpg" for n in range(4)]
    assert all(img.size == (64, 64) and img.mode == "RGB" for img in prepared.usable.values())
    assert prepared.rejected["object-00.jpg"].startswith("no_face (no face found")
    assert prepared.rejected["broken.jpg"].startswith("not a readable image")
    assert prepared.rejected["tiny.png"].startswith("too small")


def test_center_crop_uses_every_readable_image() -> None:
    images = {**face_photos(2), **faceless_photos(2)}
    prepared = prepare_images(images, 32, face_crop=False, min_usable=4, max_pixels=MAX_PIXELS)
    assert len(prepared.usable) == 4 and not prepared.rejected


def test_too_few_usable_images_fail_listing_the_rejects() -> None:
    images = {**face_photos(2), **faceless_photos(2)}
    with pytest.raises(NotEnoughImages) as caught:
        prepare_images(images, 64, face_crop=True, min_usable=3, max_pixels=MAX_PIXELS)
    reason = caught.value.reason
    assert reason.startswith("2 usable image(s), at least 3 needed")
    assert "object-00.jpg: no_face (no face found" in reason and "object-01.jpg: no_face" in reason


def test_jpeg_helper_round_trips() -> None:
    array = np.zeros((8, 8, 3), dtype=np.uint8)
    assert Image.open(io.BytesIO(jpeg(Image.fromarray(array)))).size == (8, 8)


def test_one_bad_file_is_rejected_by_name_and_the_rest_are_used() -> None:
    images = {
        **face_photos(3),
        **MALFORMED_EXIF,
        **OTHER_FORMATS,
        "grey16.png": CONVERSIONS["grey16-mid.png"][0],
    }
    prepared = prepare_images(images, 64, face_crop=False, min_usable=4, max_pixels=MAX_PIXELS)
    assert sorted(prepared.usable) == sorted([*face_photos(3), "grey16.png"])
    for name in MALFORMED_EXIF:
        assert prepared.rejected[name].startswith("malformed EXIF metadata"), name
    for name in OTHER_FORMATS:
        assert "not a JPEG, PNG or WebP" in prepared.rejected[name], name


def test_a_looser_second_crop_where_the_photo_allows_and_less_weight_for_enlarged_faces() -> None:
    from face_analysis.faces import CropBox
    from training_service.screening import LOW_RESOLUTION_WEIGHT, wide_box

    photos = face_photos(3)  # the astronaut's face, about 90 px, in 380-512 px photos
    small = prepare_images(photos, 64, face_crop=True, min_usable=3, max_pixels=MAX_PIXELS)
    assert sorted(small.wide) == [f"{name}#wide" for name in sorted(photos)]  # room for all three
    for name, wide in small.wide.items():
        tight = small.usable[name.removesuffix("#wide")]
        assert wide.size == (64, 64) and not np.array_equal(np.asarray(wide), np.asarray(tight))
    assert set(small.weights.values()) == {1.0}  # a 200 px crop shrunk to 64 px: full weight
    images, weights = small.training_set()
    assert len(images) == 6 and weights == [1.0] * 6

    # At 512 px the same ~200 px crops are enlarged about 2.6×: they weigh less; their wide crops not.
    large = prepare_images(photos, 512, face_crop=True, min_usable=3, max_pixels=MAX_PIXELS)
    assert set(large.weights.values()) == {LOW_RESOLUTION_WEIGHT}
    assert large.training_set()[1] == [LOW_RESOLUTION_WEIGHT] * 3 + [1.0] * 3

    # No room for the looser square: the tight crop alone.
    assert wide_box((300, 300), CropBox(center_x=150, center_y=150, size=200, angle=0)) is None
    box = wide_box((400, 600), CropBox(center_x=60, center_y=100, size=200, angle=3))
    assert box is not None and (box.size, box.center_x, box.center_y, box.angle) == (320, 160, 160, 3)


def test_each_training_crop_knows_where_its_face_is() -> None:
    """The face box in each crop (for the face-weighted loss): centred, about 1/2.2 of the tight crop's
    side and 1/3.5 of the looser one's, and found there again by the detector."""
    from face_analysis.faces import find_faces

    prepared = prepare_images(face_photos(3), 256, face_crop=True, min_usable=3, max_pixels=MAX_PIXELS)
    boxes = prepared.training_faces()
    images, _ = prepared.training_set()
    assert len(boxes) == len(images) == 6 and all(box is not None for box in boxes)
    for image, box in zip(images, boxes, strict=True):
        assert box is not None
        cx, cy, side = box
        [face] = find_faces(image)
        assert abs(face.left + face.side / 2 - cx * 256) < 0.1 * 256
        assert abs(face.top + face.side / 2 - cy * 256) < 0.1 * 256
        assert 0.7 < face.side / (side * 256) < 1.4
    assert [round(b[2], 2) for b in boxes if b] == [0.45] * 3 + [0.28] * 3
