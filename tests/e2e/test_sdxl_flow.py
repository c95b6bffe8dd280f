"""The SDXL family end to end (issue 24): a local cloud deployed with `baseModel=sdxl-base-1.0` (as
`cdk -c baseModel=sdxl-base-1.0` would deploy it) trains a LoRA on the tiny random-weight SDXL, publishes
it, generates with it through the multi-model host and Triton, and refuses a model of the other family.

One path, not a copy of every e2e test: the rest of the suite runs on the default family (sd21-base), and
everything family-specific is covered per family below the e2e layer."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from avatar_client.client import AvatarApiError
from avatar_contract import keys
from avatar_contract.families import ARTIFACT_FAMILY_METADATA, FamilyName
from local_cloud import LocalCloud
from local_cloud.selfies import make_selfies, to_jpeg
from tests.e2e.helpers import FAST_TRAINING, NotificationInbox, client_for, running_cloud

pytestmark = pytest.mark.slow

SDXL = {"baseModel": str(FamilyName.SDXL_BASE_1_0)}


@pytest.fixture(scope="module")
def cloud(tiny_sdxl_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """Its own cloud: the deployment's family is the cloud's configuration (cdk.json `baseModel`)."""
    with running_cloud(
        tmp_path_factory.mktemp("local-cloud-sdxl"), tiny_sdxl_model_dir, context=SDXL
    ) as local_cloud:
        yield local_cloud


@pytest.fixture(scope="module")
def trained(cloud: LocalCloud, inbox: NotificationInbox) -> dict[str, Any]:
    """One training on the tiny SDXL, the fewest steps at the smallest size its family allows."""
    client = client_for(cloud, cloud.principals[0])
    accepted = client.start_training(
        [to_jpeg(i) for i in make_selfies(10)], model_name="sdxl", config=FAST_TRAINING, prepare=False
    )
    _, raw = inbox.wait_for(accepted["training_id"], timeout=300)
    assert raw["invocationStatus"] == "Completed", raw
    status = client.wait_for_training(accepted["training_id"], timeout=60, poll_interval=0.5)
    return {**accepted, "status": status}


def test_the_cloud_is_deployed_with_the_sdxl_family(cloud: LocalCloud) -> None:
    assert cloud.settings.config.base_model == FamilyName.SDXL_BASE_1_0
    assert cloud.settings.config.base_model_manifest == "base_models/sdxl-base-1.0.json"


def test_an_sdxl_training_publishes_a_model_of_its_family_and_generates(
    cloud: LocalCloud, trained: dict[str, Any]
) -> None:
    assert trained["status"]["status"] == "completed"
    owner, model_id = cloud.owner_id(cloud.principals[0]), trained["model_id"]
    head = cloud.client("s3").head_object(
        Bucket=cloud.settings.hosting_bucket, Key=keys.model_key(owner, model_id)
    )
    assert head["Metadata"][ARTIFACT_FAMILY_METADATA] == FamilyName.SDXL_BASE_1_0
    client = client_for(cloud, cloud.principals[0])
    assert {m["model_id"]: m["status"] for m in client.list_models()} == {model_id: "completed"}

    generated = client.generate(
        model_id, "a photo of <<TOK>>", num_images=1, width=64, height=64, num_inference_steps=2, seed=3
    )
    image = Image.open(io.BytesIO(generated.images[0]))
    assert image.format == "PNG" and image.size == (64, 64)
    assert f"{owner}/{model_id}.tar.gz" in cloud.runtime.host(cloud.settings.hosting_endpoint).loaded_models()


def test_a_model_of_the_other_family_is_refused_with_409(cloud: LocalCloud, trained: dict[str, Any]) -> None:
    """A model published by an SD 2.1 deployment (its archive's metadata names sd21-base) is refused before
    it reaches the SDXL endpoint, naming both families."""
    s3, bucket = cloud.client("s3"), cloud.settings.hosting_bucket
    owner, model_id = cloud.owner_id(cloud.principals[0]), trained["model_id"]
    other_id = keys.new_model_id()
    s3.copy_object(
        Bucket=bucket,
        Key=keys.model_key(owner, other_id),
        CopySource={"Bucket": bucket, "Key": keys.model_key(owner, model_id)},
        Metadata={ARTIFACT_FAMILY_METADATA: str(FamilyName.SD21_BASE)},
        MetadataDirective="REPLACE",
    )
    with pytest.raises(AvatarApiError) as refused:
        client_for(cloud, cloud.principals[0]).generate(
            other_id, "a photo of <<TOK>>", num_images=1, width=64, height=64, num_inference_steps=2
        )
    assert (refused.value.status, refused.value.code) == (409, "model_family_mismatch")
    assert "sd21-base" in refused.value.message and "sdxl-base-1.0" in refused.value.message
