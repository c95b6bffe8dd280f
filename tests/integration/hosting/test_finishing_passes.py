"""The finishing passes in the engine, end to end on the tiny random pipeline (CPU): hires returns the
upscaled size, face_detail re-renders only the faces' regions, both with the user's LoRA active and
without a second pipeline; without the flags nothing changes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avatar_runtime.finishing import FaceBox
from hosting_server.adapters import adapter_metadata, make_random_adapter, write_metadata
from hosting_server.engine import BaseModelEngine, InvalidRequestError, parse_gen_args

pytestmark = pytest.mark.slow
BASE = {"num_inference_steps": 2, "seed": 7, "output_format": "png", "width": 64, "height": 64}


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> BaseModelEngine:
    return BaseModelEngine(tiny_model_dir, device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = make_random_adapter(tiny_model_dir, tmp_path_factory.mktemp("finish") / "a", seed=21)
    write_metadata(path, adapter_metadata("m-00000000000000000021", token="tok21"))
    return path


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def test_without_flags_the_images_do_not_change_and_no_img2img_is_built(engine, adapter) -> None:
    plain = engine.generate("a photo of <<TOK>>", "", parse_gen_args(BASE), "u", adapter)
    explicit_none = engine.generate(
        "a photo of <<TOK>>", "", parse_gen_args({**BASE, "hires": None, "face_detail": None}), "u", adapter
    )
    assert plain == explicit_none
    assert engine._img2img is None


def test_hires_returns_the_upscaled_size_from_the_same_components(engine, adapter) -> None:
    plain = engine.generate("a photo of <<TOK>>", "", parse_gen_args(BASE), "u", adapter)
    args = parse_gen_args({**BASE, "num_images": 2, "hires": {"scale": 2.0, "strength": 0.5}})
    images = engine.generate("a photo of <<TOK>>", "", args, "u", adapter)
    # The shared sampler carries no state from the img2img pass into the next plain render.
    assert engine.generate("a photo of <<TOK>>", "", parse_gen_args(BASE), "u", adapter) == plain
    assert [Image.open(io.BytesIO(i)).size for i in images] == [(128, 128), (128, 128)]
    assert engine.img2img.unet is engine.pipe.unet and engine.img2img.vae is engine.pipe.vae  # shared
    assert images == engine.generate("a photo of <<TOK>>", "", args, "u", adapter)  # deterministic
    # The LoRA is active in the pass: the plain base model refines differently.
    assert images != engine.generate("a photo of tok21 person", "", args)


def test_face_detail_rerenders_only_the_face_region(engine, adapter) -> None:
    boxes = [FaceBox(8, 8, 16)]  # the tiny model draws no face: the finder names where one is
    engine.face_finder = lambda image: boxes
    try:
        plain = decode(engine.generate("a photo of <<TOK>>", "", parse_gen_args(BASE), "u", adapter)[0])
        args = parse_gen_args({**BASE, "face_detail": {"strength": 0.7, "margin": 2.0}})
        detailed = decode(engine.generate("a photo of <<TOK>>", "", args, "u", adapter)[0])
    finally:
        engine.face_finder = None
    changed = np.abs(detailed - plain).sum(axis=2) > 0
    assert changed[0:32, 0:32].any()  # the crop (16 px face x 2: 0..32) was re-rendered
    assert not changed[32:, :].any() and not changed[:, 32:].any()  # nothing else moved


def test_hires_beyond_the_largest_side_is_refused(engine) -> None:
    with pytest.raises(InvalidRequestError, match="hires"):
        parse_gen_args({"width": 1536, "hires": {"scale": 1.5}})  # beyond every family's bound
    too_large = parse_gen_args({"width": 1024, "hires": {"scale": 2.0}})  # 2048 px: sdxl-base-1.0's bound
    with pytest.raises(InvalidRequestError, match="exceeds 1536 px for base family sd21-base"):
        engine.generate("a photo of a person", "", too_large)
    with pytest.raises(InvalidRequestError, match=r"hires\.scale"):
        parse_gen_args({"hires": {"scale": 3}})


def test_face_detail_with_the_real_face_model_leaves_a_faceless_image_as_it_was(engine, adapter) -> None:
    assert engine.face_finder is None  # the project's face model (dlib), as in production
    plain = engine.generate("a photo of <<TOK>>", "", parse_gen_args(BASE), "u", adapter)
    args = parse_gen_args({**BASE, "face_detail": {}})
    assert engine.generate("a photo of <<TOK>>", "", args, "u", adapter) == plain  # noise holds no face


def test_face_detail_without_the_face_model_is_refused_before_rendering(engine, monkeypatch) -> None:
    import face_analysis.models

    def missing() -> None:
        raise face_analysis.models.ModelsMissing("face_recognition_models is not installed")

    monkeypatch.setattr(face_analysis.models, "models", missing)
    engine.face_finder = None
    with pytest.raises(InvalidRequestError, match="face_detail is not available"):
        engine.generate("a photo", "", parse_gen_args({**BASE, "face_detail": {}}))
    engine.face_finder = None
