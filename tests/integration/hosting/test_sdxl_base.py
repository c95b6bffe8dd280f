"""The SDXL base in `sd_base` (tiny random-weight SDXL): the engine in-process, then a real Triton server
answering the reference payload for two users' thin models, and the 6 MB answer limit at 1024 px."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avatar_contract.generation import images_from_response
from hosting_server.adapters import adapter_metadata, make_random_adapter, write_metadata
from hosting_server.deadline import ResponseTooLargeError, encode_within_limit
from hosting_server.engine import AdapterError, BaseModelEngine, parse_gen_args
from hosting_server.mme import MultiModelClient, model_name_for
from hosting_server.triton import TritonNotAvailable, TritonProcess, start_triton

from .conftest import build_user_model, reference_payload

pytestmark = pytest.mark.slow
ARGS = parse_gen_args({"num_inference_steps": 2, "seed": 3})
SDXL = "sdxl-base-1.0"


def test_the_engine_serves_sdxl_with_both_text_encoders_adapted(tiny_sdxl_model_dir: Path, tmp_path: Path):
    engine = BaseModelEngine(tiny_sdxl_model_dir, device="cpu")
    assert type(engine.pipe).__name__ == "StableDiffusionXLPipeline"
    adapters = []
    for seed in (1, 2):
        adapter = make_random_adapter(tiny_sdxl_model_dir, tmp_path / f"a{seed}", seed=seed)
        write_metadata(adapter, adapter_metadata(f"m-{seed:020d}", token=f"tok{seed}", base_family=SDXL))
        adapters.append(adapter)
    first = engine.generate("a photo of <<TOK>>", "", ARGS, "u1", adapters[0])
    assert first != engine.generate("a photo of <<TOK>>", "", ARGS, "u2", adapters[1])
    assert first == engine.generate("a photo of <<TOK>>", "", ARGS, "u1", adapters[0])  # switched back
    assert first != engine.generate("a photo of tok1 person", "", ARGS)  # the plain base
    lists = engine.pipe.get_list_adapters()
    assert {"unet", "text_encoder", "text_encoder_2"} <= lists.keys()  # LoRA on both text encoders
    # The finishing passes' img2img is SDXL's, over the same weights.
    assert type(engine.img2img).__name__ == "StableDiffusionXLImg2ImgPipeline"
    assert (
        engine.img2img.unet is engine.pipe.unet
        and engine.img2img.text_encoder_2 is engine.pipe.text_encoder_2
    )


def test_an_sd21_adapter_does_not_load_into_sdxl(
    tiny_sdxl_model_dir: Path, tiny_model_dir: Path, tmp_path: Path
):
    engine = BaseModelEngine(tiny_sdxl_model_dir, device="cpu")
    adapter = make_random_adapter(tiny_model_dir, tmp_path / "sd21", seed=3)
    # Even when its metadata claims SDXL, SD 2.1's layers do not fit the SDXL UNet: refused, nothing kept.
    write_metadata(adapter, adapter_metadata("m-00000000000000000003", token="tok3", base_family=SDXL))
    with pytest.raises(AdapterError, match=r"does not fit|holds no LoRA"):
        engine.generate("a photo of <<TOK>>", "", ARGS, "u3", adapter)
    assert engine.resident == []


def _noise(side: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8))


def test_answers_at_1024_px_fit_the_6_mb_limit_as_jpeg():
    """The worst case (pure noise, which compresses least): four 1024 px JPEGs fit at the first quality
    (about 1.36 MB of base64 each); one PNG fits (4.2 MB) and two are refused with a clear error, which
    is why JPEG stays the default output_format."""
    noisy = _noise(1024)
    jpegs = encode_within_limit([noisy] * 4, "jpeg")
    assert sum(len(base64.b64encode(j)) for j in jpegs) <= 5_800_000
    assert Image.open(io.BytesIO(jpegs[0])).size == (1024, 1024)
    assert len(encode_within_limit([noisy], "png")) == 1
    with pytest.raises(ResponseTooLargeError, match="output_format jpeg"):
        encode_within_limit([noisy] * 2, "png")
    assert parse_gen_args({}).output_format == "jpeg"


@pytest.fixture(scope="module")
def sdxl_triton(
    tiny_sdxl_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TritonProcess]:
    log = tmp_path_factory.mktemp("triton-sdxl-log") / "tritonserver.log"
    try:
        server = start_triton(
            base_model=tiny_sdxl_model_dir, http_port=None, log_path=log, startup_timeout_s=180
        )  # AVATAR_BASE_FAMILY unset: SDXL's 512 px minimum would refuse the tiny stand-in's 64 px
    except TritonNotAvailable as exc:
        pytest.skip(f"the tritonserver from nvidia-pytriton cannot run here: {exc}")
    with server:
        yield server


def test_triton_answers_the_reference_payload_on_the_sdxl_base(
    sdxl_triton: TritonProcess, tiny_sdxl_model_dir: Path, tmp_path: Path
):
    mme = MultiModelClient(sdxl_triton.url)
    users = [build_user_model(tiny_sdxl_model_dir, tmp_path, seed=seed) for seed in (21, 22)]
    names = [model_name_for(user.target_model) for user in users]
    for name, user in zip(names, users, strict=True):
        assert mme.load(name, user.url, target_model=user.target_model).status_code == 200

    def images(n: int, seed: int = 42) -> list[str]:
        response = mme.invoke(names[n], reference_payload(seed=seed), target_model=users[n].target_model)
        assert response.status_code == 200, response.text
        return images_from_response(response.json())

    first = images(0)
    image = Image.open(io.BytesIO(base64.b64decode(first[0])))
    assert image.format == "JPEG" and image.size == (64, 64)  # the tiny SDXL's native size
    assert first == images(0) and first != images(1) and first != images(0, seed=43)


def test_an_endpoint_refuses_a_model_of_another_family_with_a_409_naming_both(
    sdxl_triton: TritonProcess, tiny_sdxl_model_dir: Path, tmp_path: Path
):
    mme = MultiModelClient(sdxl_triton.url)  # its gate serves the default family (sd21-base)
    user = build_user_model(tiny_sdxl_model_dir, tmp_path, seed=23, family=SDXL)
    response = mme.load(model_name_for(user.target_model), user.url, target_model=user.target_model)
    assert response.status_code == 409, response.text
    assert "'sd21-base'" in response.text and "'sdxl-base-1.0'" in response.text
    assert mme.ping() == 200
