"""The hosting container's multi-model contract against a real Triton server (SageMaker MME mode)."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import pytest
from PIL import Image

from avatar_contract.generation import build_inference_request, images_from_response
from hosting_server.mme import MultiModelClient, extract_model_archive, model_name_for

from .conftest import UserModel, build_user_model, reference_payload

pytestmark = pytest.mark.slow


def _images(response) -> list[str]:
    assert response.status_code == 200, response.text
    return images_from_response(response.json())


@pytest.fixture(scope="module")
def loaded(mme: MultiModelClient, user_models: tuple[UserModel, UserModel]) -> tuple[str, str]:
    """Both users' models loaded through the multi-model API, as SageMaker loads them."""
    names = []
    for user in user_models:
        name = model_name_for(user.target_model)
        response = mme.load(name, user.url, target_model=user.target_model)
        assert response.status_code == 200, response.text
        names.append(name)
    return names[0], names[1]


def test_ping_is_healthy_with_only_the_base_model(mme: MultiModelClient):
    assert mme.ping() == 200


def test_loaded_models_are_described_and_listed(
    mme: MultiModelClient,
    loaded: tuple[str, str],
    user_models: tuple[UserModel, UserModel],
    hosting_work: Path,
):
    for name, user in zip(loaded, user_models, strict=True):
        response = mme.describe(name)
        assert response.status_code == 200 and response.json()["modelUrl"] == str(user.url)
    # Loaded without a TargetModel header (as in local testing), Triton also lists it by name.
    url = extract_model_archive(user_models[0].archive, hosting_work / "listing", "listed-user")
    assert mme.load("listed-user", url).status_code == 200
    assert "listed-user" in mme.list()
    assert _images(mme.invoke("listed-user", reference_payload()))
    assert mme.unload("listed-user").status_code == 200
    assert "listed-user" not in mme.list()


def test_reference_payload_renders_deterministically_per_user(
    mme: MultiModelClient, loaded: tuple[str, str], user_models: tuple[UserModel, UserModel]
):
    (first, second), (user1, user2) = loaded, user_models
    a1 = _images(mme.invoke(first, reference_payload(seed=42), target_model=user1.target_model))
    a2 = _images(mme.invoke(first, reference_payload(seed=42), target_model=user1.target_model))
    b1 = _images(mme.invoke(second, reference_payload(seed=42), target_model=user2.target_model))
    a_other_seed = _images(mme.invoke(first, reference_payload(seed=43), target_model=user1.target_model))
    assert len(a1) == 1
    image = Image.open(io.BytesIO(base64.b64decode(a1[0])))
    assert image.format == "JPEG" and image.size == (64, 64)  # the tiny base model's native size
    assert a1 == a2, "same seed and adapter must give the same image"
    assert a1 != b1, "two users' adapters must give different images"
    assert a1 != a_other_seed


def test_token_placeholder_becomes_the_models_token_and_class(
    mme: MultiModelClient, loaded: tuple[str, str], user_models: tuple[UserModel, UserModel]
):
    args = {"num_inference_steps": 2, "seed": 5}
    target = user_models[0].target_model
    with_placeholder = mme.invoke(loaded[0], build_inference_request("a photo of <<TOK>>", "", args), target)
    spelled_out = mme.invoke(loaded[0], build_inference_request("a photo of sks person", "", args), target)
    other_words = mme.invoke(loaded[0], build_inference_request("a photo of a hat", "", args), target)
    assert _images(with_placeholder) == _images(spelled_out)
    assert _images(with_placeholder) != _images(other_words)


def test_several_png_images_at_a_requested_size(
    mme: MultiModelClient, loaded: tuple[str, str], user_models: tuple[UserModel, UserModel]
):
    args = {"num_inference_steps": 2, "seed": 9, "num_images": 2, "width": 96, "height": 64}
    body = build_inference_request("a photo of <<TOK>>", "blurry", {**args, "output_format": "png"})
    images = _images(mme.invoke(loaded[1], body, user_models[1].target_model))
    assert len(images) == 2 and images[0] != images[1]
    for encoded in images:
        image = Image.open(io.BytesIO(base64.b64decode(encoded)))
        assert image.format == "PNG" and image.size == (96, 64)


@pytest.mark.parametrize(
    ("gen_args", "field"),
    [
        ({"num_inference_steps": 1000}, "num_inference_steps"),
        ({"num_images": 9}, "num_images"),
        ({"width": 100}, "width"),
        ({"output_format": "gif"}, "output_format"),
        ({"steps": 3}, "steps"),
    ],
)
def test_out_of_range_gen_args_are_a_400_naming_the_field(
    mme: MultiModelClient, loaded: tuple[str, str], gen_args: dict, field: str
):
    response = mme.invoke(loaded[0], build_inference_request("a photo of <<TOK>>", "", gen_args))
    assert response.status_code == 400
    assert "invalid gen_args" in response.text and field in response.text


def test_gen_args_that_are_not_json_are_a_400(mme: MultiModelClient, loaded: tuple[str, str]):
    body = reference_payload()
    body["inputs"][2]["data"] = ["{not json"]
    response = mme.invoke(loaded[0], body)
    assert response.status_code == 400 and "gen_args is not valid JSON" in response.text


def test_corrupt_or_incomplete_models_fail_their_own_load_only(
    mme: MultiModelClient, loaded: tuple[str, str], tiny_model_dir: Path, hosting_work: Path
):
    corrupt = build_user_model(tiny_model_dir, hosting_work / "corrupt", seed=3, corrupt=b"\x00garbage")
    response = mme.load(model_name_for(corrupt.target_model), corrupt.url, corrupt.target_model)
    assert response.status_code in (400, 500)
    assert "not a readable safetensors file" in response.text

    missing = build_user_model(tiny_model_dir, hosting_work / "missing", seed=4)
    (missing.url / missing.model_id / "1" / "metadata.json").unlink()
    response = mme.load(model_name_for(missing.target_model), missing.url, missing.target_model)
    # refused by the model gate before Triton sees it (hosting_server.model_gate)
    assert response.status_code == 400 and "lacks" in response.text and "metadata.json" in response.text

    assert mme.ping() == 200
    assert mme.describe(model_name_for(corrupt.target_model)).status_code == 404
    assert _images(mme.invoke(loaded[0], reference_payload()))


def test_adapter_of_another_base_model_fails_with_a_clear_error(
    mme: MultiModelClient, loaded: tuple[str, str], tiny_model_dir: Path, hosting_work: Path
):
    """A LoRA whose shapes do not match the base model loads (the file is fine) but cannot be applied."""
    from safetensors.numpy import load_file, save_file

    user = build_user_model(tiny_model_dir, hosting_work / "mismatch", seed=6)
    adapter = user.url / user.model_id / "1" / "pytorch_lora_weights.safetensors"
    tensors = {name: value.repeat(2, axis=-1) for name, value in load_file(adapter).items()}
    save_file(tensors, adapter)
    name = model_name_for(user.target_model)
    assert mme.load(name, user.url, user.target_model).status_code == 200
    response = mme.invoke(name, reference_payload(), user.target_model)
    assert response.status_code == 400 and "does not fit base model" in response.text
    assert mme.unload(name).status_code == 200
    assert _images(mme.invoke(loaded[1], reference_payload()))


def test_unload_one_user_and_the_other_still_serves(
    mme: MultiModelClient, loaded: tuple[str, str], user_models: tuple[UserModel, UserModel]
):
    first, second = loaded
    first_before = _images(mme.invoke(first, reference_payload(seed=42)))
    before = _images(mme.invoke(second, reference_payload(seed=7)))
    response = mme.unload(first)
    assert response.status_code == 200, response.text
    assert mme.describe(first).status_code == 404 and mme.describe(second).status_code == 200
    assert mme.invoke(first, reference_payload()).status_code == 404
    assert mme.unload(first).status_code == 404
    assert _images(mme.invoke(second, reference_payload(seed=7))) == before

    # Loaded again, it serves the same images as before.
    user1 = user_models[0]
    assert mme.load(first, user1.url, user1.target_model).status_code == 200
    assert _images(mme.invoke(first, reference_payload(seed=42))) == first_before


def test_models_never_loaded_are_404(mme: MultiModelClient):
    assert mme.invoke("never-loaded", reference_payload()).status_code == 404
    response = mme.invoke("never-loaded", {"inputs": json.loads("[]")})
    assert response.status_code == 404


def test_unloading_a_user_model_releases_its_adapter_from_the_base_model(
    mme: MultiModelClient,
    loaded: tuple[str, str],
    user_models: tuple[UserModel, UserModel],
    tiny_model_dir: Path,
    hosting_work: Path,
    triton,
):
    user = build_user_model(tiny_model_dir, hosting_work / "release", seed=8)
    name = model_name_for(user.target_model)
    assert mme.load(name, user.url, user.target_model).status_code == 200
    assert _images(mme.invoke(name, reference_payload()))
    assert mme.unload(name).status_code == 200
    assert f"evicted adapter {user.model_id}" not in triton.log_path.read_text()
    # The base model notices at its next request that the model is gone, and drops the adapter.
    other = _images(mme.invoke(model_name_for(user_models[1].target_model), reference_payload()))
    assert other
    assert f"evicted adapter {user.model_id}" in triton.log_path.read_text()


def test_a_request_past_its_deadline_is_not_rendered(
    mme: MultiModelClient, loaded: tuple[str, str], user_models: tuple[UserModel, UserModel]
):
    """The API's `deadline_unix` reaches the engine through the user model's BLS call."""
    args = {"num_inference_steps": 2, "seed": 5, "deadline_unix": time.time() - 5}
    body = build_inference_request("a photo of <<TOK>>", "", args)
    response = mme.invoke(loaded[0], body, user_models[0].target_model)
    assert response.status_code != 200 and "the caller has gone" in response.text
    args["deadline_unix"] = time.time() + 600
    in_time = mme.invoke(
        loaded[0], build_inference_request("a photo of <<TOK>>", "", args), user_models[0].target_model
    )
    assert in_time.status_code == 200, in_time.text
