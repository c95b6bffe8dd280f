"""Detection, landmarks, alignment and embedding on real public-domain portraits (tests/fixtures/faces)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from face_analysis.faces import CropBox, apply_crop, crop_box, find_faces
from face_analysis.screening import SAME_PERSON_DISTANCE
from tests.fixtures.faces import astronaut, faceless, grace_hopper, selfies


def test_finds_the_astronauts_face_with_five_landmarks_inside_it() -> None:
    [face] = find_faces(astronaut())
    # The face in scikit-image's astronaut spans about x 175-265, y 76-166.
    assert 160 < face.left < 190 and 60 < face.top < 95 and 80 < face.side < 110
    assert len(face.landmarks) == 5
    for point in face.landmarks:
        assert face.left - 10 < point.x < face.left + face.side + 10
        assert face.top - 10 < point.y < face.top + face.side + 10
    assert face.embedding.shape == (128,) and face.chip.shape == (150, 150, 3)


def test_objects_have_no_face() -> None:
    for name, image in faceless().items():
        assert find_faces(image) == [], name


def test_tilted_and_turned_faces_are_found_and_aligned_eyes_level() -> None:
    for base, angle in ((astronaut(), 25.0), (grace_hopper(), -15.0)):
        tilted = base.rotate(angle, resample=Image.Resampling.BICUBIC)
        [face] = find_faces(tilted)
        assert abs(face.roll + angle) < 6  # the eye line follows the tilt
        square = apply_crop(tilted, crop_box(tilted.size, face, margin=2.2), 256)
        assert square.size == (256, 256)
        [aligned] = find_faces(square)
        assert abs(aligned.roll) < 4, (angle, aligned.roll)  # eyes level after alignment


def test_crop_is_a_square_around_the_face_with_the_margin() -> None:
    image = grace_hopper()  # 512 x 600, face about 216 px
    [face] = find_faces(image)
    box = crop_box(image.size, face, margin=2.2)
    assert box.size == min(round(face.side * 2.2), 512)
    assert box.size / 2 <= box.center_x <= image.width - box.size / 2
    assert box.size / 2 <= box.center_y <= image.height - box.size / 2
    tight = crop_box(image.size, face, margin=1.2)
    assert tight.size == round(face.side * 1.2)
    assert abs(tight.center_x - (face.left + face.side / 2)) < face.side / 4


def test_embeddings_tell_the_two_people_apart_at_the_documented_threshold() -> None:
    def embeddings(person: str) -> np.ndarray:
        return np.stack([find_faces(image)[0].embedding for image in selfies(person, 4, seed=3).values()])

    a, b = embeddings("astronaut"), embeddings("hopper")
    within = [np.linalg.norm(x - y) for group in (a, b) for i, x in enumerate(group) for y in group[i + 1 :]]
    across = [np.linalg.norm(x - y) for x in a for y in b]
    assert max(within) < SAME_PERSON_DISTANCE <= min(across)


def test_a_rotated_crop_past_the_edges_is_reflected_not_filled() -> None:
    """Eye-levelling a square near the image's edge: the corners that leave the image mirror it, so no
    flat wedge of one colour enters a training image (the former fill covered up to 4.5 % of one)."""
    texture = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    image = Image.fromarray(texture)  # 512²: a 480 px square rotated by 20° reaches past every edge
    square = np.asarray(apply_crop(image, CropBox(center_x=256, center_y=256, size=480, angle=20), 256))
    assert square.shape == (256, 256, 3)
    for corner in (square[:12, :12], square[:12, -12:], square[-12:, :12], square[-12:, -12:]):
        assert corner.std() > 2  # texture, not one colour
    # Unrotated, the crop is exactly the image's pixels.
    plain = apply_crop(image, CropBox(center_x=256, center_y=256, size=256, angle=0), 256)
    assert np.array_equal(np.asarray(plain), np.asarray(image)[128:384, 128:384])
