"""One render function (avatar_runtime.rendering): a training preview and the hosting endpoint give the
same image for the same seed, prompt and adapter (tiny random model, CPU, fp32), at the adapter's trained
resolution by default, with the shared sampler and the default negative prompt."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avatar_contract.generation import GenArgs
from avatar_runtime import rendering
from hosting_server.adapters import adapter_metadata, make_random_adapter, write_metadata
from hosting_server.engine import BaseModelEngine
from tests.torch_threads import one_torch_thread  # noqa: F401  (autouse)
from training_service.trainer import render_previews

pytestmark = pytest.mark.slow
STEPS = 3


@pytest.fixture(scope="module")
def adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    file = make_random_adapter(tiny_model_dir, tmp_path_factory.mktemp("parity"), seed=5)
    write_metadata(file, {**adapter_metadata("m-00000000000000000005", token="zwx"), "resolution": 72})
    return file


def _pixels(image: Image.Image | bytes) -> np.ndarray:
    if isinstance(image, bytes):
        image = Image.open(io.BytesIO(image))
    return np.asarray(image.convert("RGB"))


def test_a_preview_and_the_endpoint_render_the_same_image(tiny_model_dir: Path, adapter: Path) -> None:
    prompt = "a portrait of zwx person, oil painting"
    previews = render_previews(tiny_model_dir, adapter.parent, [prompt], 72, "cpu", seeds=[7, 8], steps=STEPS)
    engine = BaseModelEngine(tiny_model_dir, device="cpu", dtype="float32")
    args = GenArgs(seed=7, num_images=2, num_inference_steps=STEPS, output_format="png")
    served = engine.generate("a portrait of <<TOK>>, oil painting", "", args, "u5", adapter)

    assert type(engine.pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert engine.pipe.scheduler.config.use_karras_sigmas
    assert [Image.open(io.BytesIO(b)).size for b in served] == [(72, 72), (72, 72)]  # trained size
    for preview, image in zip(previews, served, strict=True):
        assert np.array_equal(_pixels(preview), _pixels(image))
    assert not np.array_equal(_pixels(previews[0]), _pixels(previews[1]))  # seed + i


def test_the_default_negative_prompt_applies_unless_one_is_sent_or_it_is_refused(
    tiny_model_dir: Path, adapter: Path
) -> None:
    engine = BaseModelEngine(tiny_model_dir, device="cpu", dtype="float32")
    args = {"seed": 3, "num_inference_steps": STEPS, "output_format": "png"}

    def served(negative: str, **extra: object) -> np.ndarray:
        request = GenArgs.model_validate({**args, **extra})
        return _pixels(engine.generate("a photo of <<TOK>>", negative, request, "u", adapter)[0])

    default = served("")
    assert np.array_equal(default, served(rendering.DEFAULT_NEGATIVE_PROMPT))
    assert not np.array_equal(default, served("", default_negative_prompt=False))
    assert not np.array_equal(default, served("cartoon"))


def test_large_batches_are_split_under_the_pixel_cap_with_the_same_images(
    tiny_model_dir: Path,
) -> None:
    assert rendering.batches(4, 1024, 1024) == [range(0, 2), range(2, 4)]
    assert rendering.batches(4, 512, 512) == [range(0, 4)]
    assert rendering.batches(1, 4096, 4096) == [range(0, 1)]  # at least one image per batch
    pipe = rendering.load_pipeline(tiny_model_dir, "cpu")
    whole = rendering.render(pipe, "a face", seed=1, count=3, size=64, steps=2)
    split = rendering.render(pipe, "a face", seed=1, count=3, size=64, steps=2, max_pixels=64 * 64)
    # Each image has its own generator: only float rounding of the batch shape may differ (one level).
    for a, b in zip(whole, split, strict=True):
        assert np.abs(_pixels(a).astype(int) - _pixels(b)).max() <= 2
