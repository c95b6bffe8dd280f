"""Issue 24: the deployed base family (AVATAR_BASE_FAMILY) sets the training defaults and bounds, names
each training's family, and refuses to generate with a model of another family (409
model_family_mismatch naming both); models from before families are sd21-base."""

from __future__ import annotations

import json

import pytest

from avatar_api.services import get_services
from avatar_contract import keys
from avatar_contract.families import ARTIFACT_FAMILY_METADATA, FamilyName, family
from tests.fixtures.api import ALICE, owner_id, png, response_json, selfies
from tests.fixtures.api_backend import HOSTING_BUCKET, Api

ALICE_OWNER = owner_id(ALICE)


def deploy(name: str) -> None:
    get_services().base_family = FamilyName(name)


def submit(api: Api, config: dict | None = None) -> dict:
    api.queue_training()
    body = {"images": selfies(), **({"config": config} if config is not None else {})}
    return api.call("POST", "/trainings", body)


@pytest.mark.parametrize("name", list(FamilyName))
def test_a_training_takes_the_deployed_familys_defaults_and_names_it(api: Api, name: str) -> None:
    deploy(name)
    response = submit(api, {"max_train_steps": 300})
    assert response["statusCode"] == 202, response["body"]
    config = api.packaged_config(ALICE_OWNER, response_json(response)["training_id"])
    defaults = family(name).training
    assert config.base_family == name
    assert (config.max_train_steps, config.resolution) == (300, defaults.resolution.default)
    assert config.use_8bit_adam is defaults.use_8bit_adam
    assert config.with_prior_preservation is defaults.with_prior_preservation


def test_a_value_outside_the_deployed_familys_bounds_is_a_400_naming_field_and_family(api: Api) -> None:
    deploy("sdxl-base-1.0")
    response = submit(api, {"lora_rank": 200})  # fine for sd21-base
    assert response["statusCode"] == 400, response["body"]
    message = response_json(response)["error"]["message"]
    assert "config.lora_rank" in message and "sdxl-base-1.0" in message
    assert api.training.calls == [] and api.object_keys() == []


def published_model(api: Api, family_name: str | None) -> str:
    """A completed training whose published archive names `family_name` (None: from before families)."""
    response = submit(api)
    assert response["statusCode"] == 202, response["body"]
    accepted = response_json(response)
    metadata = {ARTIFACT_FAMILY_METADATA: family_name} if family_name else {}
    key = keys.model_key(ALICE_OWNER, accepted["model_id"])
    api.s3.put_object(Bucket=HOSTING_BUCKET, Key=key, Body=b"artifact", Metadata=metadata)
    return str(accepted["model_id"])


@pytest.mark.parametrize(
    ("model_family", "deployed"),
    [("sdxl-base-1.0", "sd21-base"), (None, "sdxl-base-1.0"), ("sd21-base", "sdxl-base-1.0")],
)
def test_a_model_of_another_family_is_refused_with_409_naming_both(
    api: Api, model_family: str | None, deployed: str
) -> None:
    model_id = published_model(api, model_family)
    deploy(deployed)
    response = api.call("POST", f"/models/{model_id}/generations", {"prompt": "a photo of <<TOK>>"})
    assert response["statusCode"] == 409, response["body"]
    error = response_json(response)["error"]
    assert error["code"] == "model_family_mismatch"
    assert f"'{model_family or 'sd21-base'}'" in error["message"] and f"'{deployed}'" in error["message"]
    assert api.hosting.calls == []


@pytest.mark.parametrize(
    ("model_family", "deployed"), [(None, "sd21-base"), ("sdxl-base-1.0", "sdxl-base-1.0")]
)
def test_a_model_of_the_deployed_family_renders_at_its_size(
    api: Api, model_family: str | None, deployed: str
) -> None:
    deploy(deployed)
    model_id = published_model(api, model_family)
    api.hosting.queue_images([png()])
    response = api.call("POST", f"/models/{model_id}/generations", {"prompt": "hi"})
    assert response["statusCode"] == 200, response["body"]
    sent = json.loads(json.loads(api.hosting.calls[-1][1]["Body"])["inputs"][2]["data"][0])
    native = family(deployed).native_resolution
    assert (sent["width"], sent["height"]) == (native, native)
