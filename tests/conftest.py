"""Fixtures shared by every test layer."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random-weight SD 2.x pipeline, built once per test session (about 0.2 s)."""
    from random_sd import ensure_tiny_pipeline  # torch: imported only where a test needs the model

    return ensure_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="session")
def tiny_sdxl_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random-weight SDXL pipeline (two text encoders, "text_time" UNet), built once per session."""
    from random_sd import ensure_tiny_sdxl_pipeline

    return ensure_tiny_sdxl_pipeline(tmp_path_factory.mktemp("tiny-sdxl"))


@pytest.fixture(scope="session", params=["sd21-base", "sdxl-base-1.0"])
def tiny_family_model_dir(request: pytest.FixtureRequest) -> Path:
    """The tiny pipeline of each base-model family in turn (tests parametrized over the families)."""
    fixture = "tiny_sdxl_model_dir" if request.param == "sdxl-base-1.0" else "tiny_model_dir"
    return request.getfixturevalue(fixture)


@pytest.fixture(scope="session")
def tiny_fp16_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline saved the way the default manifest stages SD 2.1-base: only the fp16 variants of
    the weight files (`*.fp16.safetensors`), no full-precision ones."""
    import torch
    from diffusers import StableDiffusionPipeline

    out = tmp_path_factory.mktemp("tiny-sd-fp16")
    pipe = StableDiffusionPipeline.from_pretrained(tiny_model_dir, dtype=torch.float16, safety_checker=None)
    pipe.save_pretrained(out, variant="fp16", safe_serialization=True)
    return out
