"""The finishing passes' image work (avatar_runtime.finishing) on a real public-domain portrait pasted
into a larger canvas: faces found by the project's face model, crops placed around them, and the paste
back through a feathered mask that changes only the face's region."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from avatar_runtime.finishing import (
    FaceBox,
    Region,
    detail_regions,
    face_region,
    face_regions,
    feather_mask,
)
from tests.fixtures.faces import grace_hopper


def half_body_canvas() -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A 768x768 noise canvas with the portrait (small, as in a half-body shot) pasted at (400, 80)."""
    rng = np.random.default_rng(0)
    canvas = Image.fromarray(rng.integers(0, 255, (768, 768, 3), dtype=np.uint8))
    portrait = grace_hopper().resize((256, 300))
    canvas.paste(portrait, (400, 80))
    return canvas, (400, 80, 656, 380)


def test_face_region_is_a_square_around_the_face_kept_inside_the_image() -> None:
    assert face_region((512, 512), FaceBox(200, 200, 100), margin=2.0) == Region(150, 150, 200)
    near_edge = face_region((512, 512), FaceBox(480, -10, 60), margin=2.0)
    assert near_edge == Region(392, 0, 120)
    assert face_region((300, 200), FaceBox(0, 0, 400), margin=3.0) == Region(100, 0, 200)


def test_feather_mask_is_opaque_inside_and_fades_to_nothing_at_the_edges() -> None:
    mask = np.asarray(feather_mask(100))
    assert mask[50, 50] == 255 and mask[15:85, 15:85].min() == 255
    assert mask[0].max() < 10 and mask[:, 0].max() < 10  # the seam blends in
    assert (np.diff(mask[50, :13].astype(int)) >= 0).all()  # rises monotonically


def test_face_detail_finds_the_face_and_changes_only_its_region() -> None:
    canvas, portrait_box = half_body_canvas()
    regions = face_regions(canvas, margin=1.6, max_faces=2)
    assert len(regions) == 1
    (region,) = regions
    left, top, right, bottom = portrait_box
    assert left <= region.left and region.left + region.side <= right  # around the face, in the portrait
    assert top <= region.top + region.side // 2 <= bottom
    calls = []

    def refine(crop: Image.Image, index: int) -> Image.Image:  # a fake img2img: a flat grey crop
        calls.append((crop.size, index))
        return Image.new("RGB", crop.size, (128, 128, 128))

    out = detail_regions(canvas, regions, refine, work_size=512)
    assert calls == [((512, 512), 0)]  # upscaled to the base size before denoising
    before, after = np.asarray(canvas).astype(int), np.asarray(out).astype(int)
    changed = np.abs(after - before).sum(axis=2) > 0
    inside = np.zeros_like(changed)
    inside[region.top : region.top + region.side, region.left : region.left + region.side] = True
    assert not changed[~inside].any()  # nothing outside the crop moved
    centre = after[region.top + region.side // 2, region.left + region.side // 2]
    assert tuple(centre) == (128, 128, 128)  # the middle is the refined crop
    edge = region.top + region.side // 2, region.left
    assert abs(after[edge] - before[edge]).max() <= 8  # the border is (almost) the original: feathered


def test_no_face_changes_nothing() -> None:
    rng = np.random.default_rng(1)
    noise = Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8))
    assert face_regions(noise, margin=2.0, max_faces=2) == []
    assert detail_regions(noise, [], lambda crop, i: pytest.fail("no face to refine"), 512).tobytes() == (
        noise.tobytes()
    )


def test_at_most_max_faces_largest_first() -> None:
    faces = [FaceBox(0, 0, 50), FaceBox(200, 200, 80), FaceBox(100, 300, 60)]
    regions = face_regions(Image.new("RGB", (512, 512)), 1.0, 2, finder=lambda _: faces)
    assert [r.side for r in regions] == [50, 80]  # the finder's order (face_analysis: largest first)
