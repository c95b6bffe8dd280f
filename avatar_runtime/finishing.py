"""The image work of the finishing passes (docs/hosting.md "Finishing passes"), apart from any pipeline:
where a face's crop lies, the upscale, and the paste back through a feathered mask. The denoising itself
is a callable (`avatar_runtime.rendering.refine` in the engine; a fake one in the tests), so this module
needs only Pillow and is tested on real photographs without a model.

`face_detail` follows ADetailer: each face found is cropped as a square `margin` x its side, the crop is
upscaled to the base model's size, re-rendered at low strength with the prompt (and the user's LoRA), and
pasted back at its place through a mask that fades over the crop's outer `FEATHER` fraction, so nothing
outside the crop changes and the seam is invisible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

# The fraction of a crop's side over which the pasted crop fades into the image.
FEATHER: Final = 0.12


@dataclass(frozen=True)
class FaceBox:
    """A detected face: its square box in image pixels (the detector's)."""

    left: float
    top: float
    side: float


@dataclass(frozen=True)
class Region:
    """A square crop inside the image: `left`, `top` and `side` in whole pixels."""

    left: int
    top: int
    side: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.left, self.top, self.left + self.side, self.top + self.side)


def face_region(image_size: tuple[int, int], face: FaceBox, margin: float) -> Region:
    """A square `margin` x the face's side centred on the face, as large as fits in the image and moved
    inside it when the face is near an edge."""
    width, height = image_size
    side = max(8, min(round(face.side * margin), width, height))
    cx, cy = face.left + face.side / 2, face.top + face.side / 2
    left = min(max(round(cx - side / 2), 0), width - side)
    top = min(max(round(cy - side / 2), 0), height - side)
    return Region(left, top, side)


def feather_mask(side: int, feather: float = FEATHER) -> Any:
    """An "L" mask `side` px square: 255 in the middle, fading linearly to 0 over `feather` x side at
    each edge."""
    import numpy as np
    from PIL import Image

    ramp = max(1.0, side * feather)
    distance = np.minimum(np.arange(side), np.arange(side)[::-1])  # to the nearest edge, per axis: 0 on it
    axis = np.clip(distance / ramp, 0.0, 1.0)
    return Image.fromarray((np.minimum.outer(axis, axis) * 255).round().astype(np.uint8), mode="L")


def upscale(image: Any, size: tuple[int, int]) -> Any:
    """`image` resized to `size` (Lanczos): the hires pass's input and a face crop's working size."""
    from PIL import Image

    return image.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def detail_regions(
    image: Any, regions: Sequence[Region], refine: Callable[[Any, int], Any], work_size: int
) -> Any:
    """`image` with each region re-rendered: cropped, upscaled to `work_size`², passed to
    `refine(crop, index)` (which returns an image of the same size), scaled back and pasted through
    `feather_mask`. Pixels outside every region are left exactly as they were."""
    out = image.convert("RGB").copy()
    for index, region in enumerate(regions):
        crop = upscale(out.crop(region.box), (work_size, work_size))
        refined = upscale(refine(crop, index), (region.side, region.side))
        out.paste(refined, (region.left, region.top), feather_mask(region.side))
    return out


def find_face_boxes(image: Any) -> list[FaceBox]:
    """Faces in `image`, largest first, with the project's face model (`face_analysis`: dlib's
    detector). ImportError where the face model is not installed."""
    from face_analysis.faces import find_faces

    return [FaceBox(face.left, face.top, face.side) for face in find_faces(image.convert("RGB"))]


def face_regions(
    image: Any, margin: float, max_faces: int, finder: Callable[[Any], list[FaceBox]] = find_face_boxes
) -> list[Region]:
    """The crops of at most `max_faces` faces (largest first) of `image`."""
    return [face_region(image.size, face, margin) for face in finder(image)[:max_faces]]
