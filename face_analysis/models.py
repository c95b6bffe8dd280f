"""The model files and their loaders. The files ship inside the `face_recognition_models` package and
load offline. The package's own `__init__` imports `pkg_resources` (removed from setuptools 81), so the
files are located from the package's import spec without importing it. The 68-point landmark model in
that package is never used: its training data does not allow commercial use (docs/faces.md)."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

MODEL_PACKAGE = "face_recognition_models"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
EMBEDDING_FILE = "dlib_face_recognition_resnet_model_v1.dat"
# Never loaded (licence); the Lambda asset leaves it out.
UNUSED_FILES = ("shape_predictor_68_face_landmarks.dat", "mmod_human_face_detector.dat")


class ModelsMissing(RuntimeError):
    """The model package is not installed (or a file is missing from it)."""


def model_dir() -> Path:
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelsMissing(f"the {MODEL_PACKAGE} package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_file(name: str) -> Path:
    path = model_dir() / name
    if not path.is_file():
        raise ModelsMissing(f"{path} is missing")
    return path


class Models:
    """dlib's detector, 5-point shape predictor and embedding network, loaded once per process."""

    def __init__(self) -> None:
        import dlib

        self.detector: Any = dlib.get_frontal_face_detector()
        self.landmarks: Any = dlib.shape_predictor(str(model_file(LANDMARKS_FILE)))
        self.embedding: Any = dlib.face_recognition_model_v1(str(model_file(EMBEDDING_FILE)))


@lru_cache(maxsize=1)
def models() -> Models:
    return Models()
