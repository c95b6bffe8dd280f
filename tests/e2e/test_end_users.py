"""End users through the local cloud (docs/end-users.md): two users of the user pool sign in with the SDK
(user pool -> identity pool stand-in -> temporary credentials -> SigV4), each trains a model, and neither
can list, read, generate with or delete the other's trainings and models; a user who signs in again (a
new session, new credentials) is the same owner and sees their own."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from avatar_client.client import AvatarApiError, AvatarClient
from avatar_client.end_users import EndUserPool
from local_cloud import LocalCloud
from local_cloud.selfies import make_selfies, to_jpeg
from tests.e2e.helpers import FAST_TRAINING, client_for

pytestmark = pytest.mark.slow
# One LoRA step, no previews: this test is about who may see the model, not the model.
TINY_TRAINING = {**FAST_TRAINING, "max_train_steps": 1, "validation_prompts": []}
TINY_GENERATION: dict[str, Any] = {"width": 64, "height": 64, "num_inference_steps": 1}


@pytest.fixture(scope="module")
def endpoints(cloud: LocalCloud) -> Iterator[None]:
    """boto3's `cognito-idp` and `cognito-identity` clients find this cloud's (AWS_ENDPOINT_URL_*)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in cloud.end_user_env().items():
            patch.setenv(name, value)
        yield


def sign_in(cloud: LocalCloud, user: int) -> AvatarClient:
    assert cloud.end_user_pool is not None
    pool = cloud.end_user_pool
    account = cloud.end_users[user]
    return AvatarClient.for_user(
        cloud.api_url,
        EndUserPool(pool.region, pool.user_pool_id, pool.client_id, pool.identity_pool_id),
        account.email,
        account.password,
        timeout=60,
    )


@pytest.fixture(scope="module")
def trained(cloud: LocalCloud, endpoints: None) -> dict[int, dict[str, Any]]:
    """Each of the two end users' finished training (202 body), trained at the same time."""

    def train(user: int) -> dict[str, Any]:
        client = sign_in(cloud, user)
        selfies = [to_jpeg(image) for image in make_selfies(10)]
        accepted = client.start_training(
            selfies, model_name=f"user-{user}", config=TINY_TRAINING, prepare=False
        )
        status = client.wait_for_training(accepted["training_id"], timeout=300, poll_interval=1)
        assert status["status"] == "completed", status
        return accepted

    with ThreadPoolExecutor(2) as pool:
        return dict(zip((0, 1), pool.map(train, (0, 1)), strict=True))


def test_end_users_cannot_see_or_use_each_others_trainings_and_models(
    cloud: LocalCloud, trained: dict[int, dict[str, Any]]
) -> None:
    clients = {user: sign_in(cloud, user) for user in (0, 1)}
    for user, other in ((0, 1), (1, 0)):
        client = clients[user]
        assert [m["model_id"] for m in client.list_models()] == [trained[user]["model_id"]]
        _assert_none_of_it_exists(client, trained[other])
    # nor are they an IAM caller's
    assert client_for(cloud, cloud.principals[0]).list_models() == []


def _assert_none_of_it_exists(client: AvatarClient, theirs: dict[str, Any]) -> None:
    """Another owner's training and model do not exist for `client` (404), whatever it tries."""
    for call in (
        lambda: client.get_training(theirs["training_id"]),
        lambda: client.generate(theirs["model_id"], "a photo of <<TOK>>", **TINY_GENERATION),
        lambda: client.delete_model(theirs["model_id"]),
    ):
        with pytest.raises(AvatarApiError) as refused:
            call()
        assert refused.value.status == 404


def test_an_end_user_signing_in_again_sees_their_own(
    cloud: LocalCloud, trained: dict[int, dict[str, Any]]
) -> None:
    again = sign_in(cloud, 0)
    mine = trained[0]
    assert [m["model_id"] for m in again.list_models()] == [mine["model_id"]]
    assert again.get_training(mine["training_id"])["status"] == "completed"
    generated = again.generate(mine["model_id"], "a photo of <<TOK>>", **TINY_GENERATION)
    assert generated.images and generated.images[0].startswith(b"\x89PNG")


def test_an_end_user_deletes_their_own_model(cloud: LocalCloud, trained: dict[int, dict[str, Any]]) -> None:
    client, mine = sign_in(cloud, 1), trained[1]
    client.delete_model(mine["model_id"])
    assert client.list_models() == []
    with pytest.raises(AvatarApiError) as gone:
        client.get_training(mine["training_id"])
    assert gone.value.status == 404
    assert [m["model_id"] for m in sign_in(cloud, 0).list_models()] == [trained[0]["model_id"]]
