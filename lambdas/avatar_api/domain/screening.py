"""Screening the selfies before a training is paid for (face_analysis, docs/faces.md): every image's
verdict, the reason an app can show its user, and the square crop the training will use. `POST
/trainings` with `dry_run` answers the report and starts nothing; a real request with fewer usable
images than `min_usable_images` is refused with 422 listing every reason.

The images are loaded, checked and screened one at a time at the working size (domain.images): each is
decoded once, and only its verdict stays. Dry runs are metered per owner (docs/limits.md)."""

from __future__ import annotations

from PIL import Image
from pydantic import BaseModel, Field

from avatar_api.domain.images import CheckedImage
from avatar_api.domain.services import Services
from avatar_api.domain.uploads import ImageSource, load_image
from avatar_api.errors import NotEnoughUsableImages
from avatar_contract.training import TrainingHyperparameters
from face_analysis.screening import Reason, Screening, SetScreener, summary


class CropBox(BaseModel):
    """Rotate the image `angle` degrees counter-clockwise about the centre, then take the square."""

    center_x: float
    center_y: float
    size: int = Field(..., description="Side of the square, in the uploaded image's pixels")
    angle: float = Field(..., description="Degrees that level the eyes")


class ImageVerdict(BaseModel):
    index: int = Field(..., description="Position in the request's images")
    usable: bool
    reason: Reason | None = Field(None, description="Why the image is not used (docs/faces.md)")
    message: str = Field("", description="The reason in words, for the app's user")
    faces: int = Field(0, description="Faces found")
    crop_box: CropBox | None = None
    identity_distance: float | None = Field(None, description="From the set's identity; same person < 0.6")


class ScreeningReport(BaseModel):
    """What `POST /trainings` with `"dry_run": true` answers: nothing is stored and nothing starts."""

    dry_run: bool = True
    usable_images: int
    min_usable_images: int
    would_train: bool = Field(..., description="True when a real request with these images would start")
    images: list[ImageVerdict]


def _name(index: int) -> str:
    return f"images[{index}]"


def load_and_screen(
    services: Services, owner: str, sources: list[ImageSource], hyperparameters: TrainingHyperparameters
) -> tuple[list[CheckedImage], Screening | None]:
    """Load and check every image, screening each (with `face_crop`) while its working-size copy exists.
    The screening is None when `face_crop` is off (faces are not screened: center crops, any subject)."""
    screener = SetScreener() if hyperparameters.face_crop else None
    images = []
    for i, source in enumerate(sources):
        name = _name(i)

        def inspect(image: Image.Image, full_size: tuple[int, int], name: str = name) -> None:
            if screener is not None:
                screener.add(name, image, full_size)

        images.append(load_image(services, owner, source, i, inspect))
    return images, screener.finish() if screener is not None else None


def report(
    images: list[CheckedImage], screening: Screening | None, hyperparameters: TrainingHyperparameters
) -> ScreeningReport:
    """Every image's verdict. With `face_crop` off, faces are not screened (center crops, any subject)."""
    if screening is None:
        verdicts = [ImageVerdict(index=i, usable=True) for i in range(len(images))]
        return ScreeningReport(
            usable_images=len(images),
            min_usable_images=hyperparameters.min_usable_images,
            would_train=len(images) >= hyperparameters.min_usable_images,
            images=verdicts,
        )
    index = {_name(i): i for i in range(len(images))}
    verdicts = [
        ImageVerdict(
            index=index[v.name],
            usable=v.usable,
            reason=v.reason,
            message=v.message,
            faces=v.faces,
            crop_box=CropBox.model_validate(v.crop.as_dict()) if v.crop else None,
            identity_distance=round(v.identity_distance, 3) if v.identity_distance is not None else None,
        )
        for v in screening.verdicts
    ]
    verdicts.sort(key=lambda verdict: verdict.index)
    usable = len(screening.usable)
    return ScreeningReport(
        usable_images=usable,
        min_usable_images=hyperparameters.min_usable_images,
        would_train=usable >= hyperparameters.min_usable_images,
        images=verdicts,
    )


def require_enough(screening: Screening | None, hyperparameters: TrainingHyperparameters) -> None:
    """Refuse (422, every reason listed by position) a set the training would refuse."""
    if screening is None:
        return
    problem = summary(screening, hyperparameters.min_usable_images)
    if problem is not None:
        raise NotEnoughUsableImages(problem)


def dry_run(
    services: Services, owner: str, sources: list[ImageSource], hyperparameters: TrainingHyperparameters
) -> ScreeningReport:
    """Load and check the images as `POST /trainings` would (uploads stay for the real request) and
    screen them: no GPU, no job, nothing stored. One of the owner's dry runs this hour (429 beyond)."""
    services.quotas.take_dry_run(owner)
    images, screening = load_and_screen(services, owner, sources, hyperparameters)
    return report(images, screening, hyperparameters)
