"""Screening selfie sets of real portraits: a reason per refused image, a robust identity centre."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from face_analysis.screening import Screening, Thresholds, screen, summary
from tests.fixtures.faces import astronaut, faceless, grace_hopper, jpeg, selfies


def _reasons(screening: Screening) -> dict[str, str | None]:
    return {verdict.name: verdict.reason for verdict in screening.verdicts}


@pytest.mark.parametrize(("majority", "intruder"), [("astronaut", "hopper"), ("hopper", "astronaut")])
def test_three_photos_of_someone_else_among_ten_are_refused_as_a_different_person(
    majority: str, intruder: str
) -> None:
    images = {**selfies(majority, 10, seed=0), **selfies(intruder, 3, seed=1)}
    screening = screen(images)
    reasons = _reasons(screening)
    assert {name for name, reason in reasons.items() if reason == "different_person"} == {
        f"{intruder}-{n:02d}.jpg" for n in range(3)
    }
    assert all(reasons[f"{majority}-{n:02d}.jpg"] is None for n in range(10))
    assert screening.identity is not None and screening.identity.shape == (128,)
    assert all(v.crop is not None and v.identity_distance is not None for v in screening.usable)


def test_each_kind_of_bad_photo_gets_its_reason() -> None:
    a, g = astronaut(), grace_hopper()
    small = Image.new("RGB", (640, 640), (128, 128, 128))
    small.paste(a.resize((338, 338)), (100, 100))  # face about 60 px
    pair = Image.new("RGB", (1024, 600), (128, 128, 128))
    pair.paste(a, (0, 44))
    pair.paste(g.resize((230, 270)), (600, 50))  # two faces of about 90 px
    resaved = Image.open(io.BytesIO(jpeg(a.resize((480, 480)), quality=60)))
    images = {
        "a-good.jpg": a,
        "b-copy.jpg": resaved,  # the same photo, smaller and re-encoded
        "c-mirrored.jpg": ImageOps.mirror(a),  # a different framing: not a duplicate
        "d-small.jpg": small,
        "e-pair.jpg": pair,
        "f-blurred.jpg": a.filter(ImageFilter.GaussianBlur(2)),
        "g-dark.jpg": ImageEnhance.Brightness(a).enhance(0.25),
        "h-bright.jpg": Image.blend(a, Image.new("RGB", a.size, "white"), 0.75),
        **faceless(),
    }
    screening = screen(images, unreadable={"z-broken.jpg": "not a readable image"})
    assert _reasons(screening) == {
        "a-good.jpg": None,
        "b-copy.jpg": "near_duplicate",
        "c-mirrored.jpg": None,
        "d-small.jpg": "face_too_small",
        "e-pair.jpg": "several_faces",
        "f-blurred.jpg": "blurred",
        "g-dark.jpg": "too_dark",
        "h-bright.jpg": "too_bright",
        "chelsea.jpg": "no_face",
        "coffee.jpg": "no_face",
        "z-broken.jpg": "unreadable",
    }
    assert "a-good.jpg" in next(v.message for v in screening.verdicts if v.name == "b-copy.jpg")
    reason = summary(screening, min_usable=3)
    assert reason is not None and reason.startswith("2 usable image(s), at least 3 needed")
    for name in ("b-copy.jpg", "d-small.jpg", "e-pair.jpg", "f-blurred.jpg", "coffee.jpg", "z-broken.jpg"):
        assert name in reason
    assert summary(screening, min_usable=2) is None


def test_a_clearly_larger_face_is_taken_and_the_thresholds_are_configurable() -> None:
    image = Image.new("RGB", (1040, 620), (128, 128, 128))
    image.paste(grace_hopper(), (0, 0))  # face about 200 px
    image.paste(astronaut(), (520, 50))  # face about 90 px
    [verdict] = screen({"group.jpg": image}).verdicts
    assert verdict.usable and verdict.faces == 2 and verdict.crop is not None
    assert verdict.crop.center_x < 512  # around Grace Hopper
    [strict] = screen({"group.jpg": image}, limits=Thresholds(dominance=3.0)).verdicts
    assert strict.reason == "several_faces"


def test_a_working_size_copy_gets_the_full_images_verdict_crop_and_face_size() -> None:
    """Issue 21 M3: the API screens each image at the detector's working size, one at a time; faces,
    face sizes and crops come back in the full image's pixels, as screening the full image gives them."""
    from face_analysis.faces import DETECT_SIDE
    from face_analysis.screening import SetScreener

    full = {name: image.resize((1600, 1600)) for name, image in selfies("astronaut", 3, seed=0).items()}
    expected = screen(full)
    screener = SetScreener()
    for name in sorted(full):
        working = full[name].resize((DETECT_SIDE, DETECT_SIDE))
        screener.add(name, working, full[name].size)
    got = screener.finish()
    assert _reasons(got) == _reasons(expected)
    for mine, theirs in zip(got.verdicts, expected.verdicts, strict=True):
        assert mine.crop is not None and theirs.crop is not None
        assert abs(mine.crop.size - theirs.crop.size) <= 0.02 * theirs.crop.size
        assert abs(mine.crop.center_x - theirs.crop.center_x) <= 8
        assert abs(mine.crop.center_y - theirs.crop.center_y) <= 8
        assert mine.face is not None and theirs.face is not None
        assert abs(mine.face.side - theirs.face.side) <= 0.02 * theirs.face.side
