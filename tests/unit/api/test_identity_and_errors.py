"""Validation messages, image checks, settings and services from the environment."""

from __future__ import annotations

import io

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from avatar_api.domain.images import check_image
from avatar_api.errors import InvalidRequest, PayloadTooLarge, describe_validation_errors
from avatar_contract.keys import owner_of
from tests.fixtures.api import image_bytes


def test_validation_messages_name_the_field() -> None:
    message = describe_validation_errors(
        [
            {"type": "missing", "loc": ("body", "images", 3, "data"), "msg": "Field required"},
            {
                "type": "extra_forbidden",
                "loc": ("body", "config", "foo"),
                "msg": "Extra inputs are not permitted",
            },
        ]
    )
    assert message == "images[3].data: Field required; config.foo: Extra inputs are not permitted"


def test_jpeg_and_png_pass() -> None:
    assert check_image(image_bytes("JPEG"), "images[0]").extension == "jpg"
    assert check_image(image_bytes("PNG"), "images[1]").extension == "png"


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", InvalidRequest),
        (b"hello world", InvalidRequest),
        (_encoded(Image.new("RGB", (80, 80)), "BMP"), InvalidRequest),
        (_encoded(Image.new("RGB", (80, 80)), "WEBP"), InvalidRequest),
        (image_bytes("PNG")[:-40], InvalidRequest),
        (_encoded(Image.new("1", (9000, 9000)), "PNG"), PayloadTooLarge),
        (bytes(16 * 2**20), PayloadTooLarge),
    ],
    ids=["empty", "text", "bmp", "webp", "truncated-png", "bomb", "16MB"],
)
def test_bad_images_are_refused_with_the_field_name(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"images\[7\]"):
        check_image(data, "images[7]")


def test_settings_need_the_buckets_the_owner_key_and_the_state_table(monkeypatch: pytest.MonkeyPatch) -> None:
    from avatar_api.settings import Settings

    monkeypatch.delenv("AVATAR_TRAINING_ENDPOINT", raising=False)
    monkeypatch.delenv("AVATAR_HOSTING_ENDPOINT", raising=False)
    monkeypatch.setenv("AVATAR_DATA_BUCKET", "data")
    monkeypatch.delenv("AVATAR_HOSTING_BUCKET", raising=False)
    monkeypatch.delenv("AVATAR_STATE_TABLE", raising=False)
    monkeypatch.setenv("AVATAR_OWNER_KEY_SECRET", "owner-key")
    with pytest.raises(RuntimeError, match="AVATAR_HOSTING_BUCKET, AVATAR_STATE_TABLE"):
        Settings.from_env()
    monkeypatch.setenv("AVATAR_HOSTING_BUCKET", "hosting")
    monkeypatch.setenv("AVATAR_STATE_TABLE", "state")
    monkeypatch.delenv("AVATAR_OWNER_KEY_SECRET", raising=False)
    with pytest.raises(RuntimeError, match="AVATAR_OWNER_KEY_SECRET"):
        Settings.from_env()
    monkeypatch.setenv("AVATAR_OWNER_KEY_SECRET", "owner-key")
    assert Settings.from_env() == Settings("data", "hosting", "owner-key", "", "", state_table="state")


def test_services_are_built_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from avatar_api.services import get_services, use_services
    from avatar_api.settings import GENERATION_BUDGET_SECONDS

    for name, value in {
        "AVATAR_DATA_BUCKET": "data",
        "AVATAR_HOSTING_BUCKET": "hosting",
        "AVATAR_TRAINING_ENDPOINT": "train-ep",
        "AVATAR_HOSTING_ENDPOINT": "host-ep",
        "AVATAR_OWNER_KEY_SECRET": "owner-key",
        "AVATAR_STATE_TABLE": "state",
        "AVATAR_QUOTA_TRAININGS_PER_DAY": "7",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    use_services(None)
    try:
        with mock_aws():
            boto3.client("secretsmanager").create_secret(Name="owner-key", SecretString="k" * 64)
            services = get_services()
            assert services.owner_ids.owner_of("arn:aws:iam::123456789012:user/a") == owner_of(
                "arn:aws:iam::123456789012:user/a", b"k" * 64
            )
            assert (services.data.name, services.hosting.name) == ("data", "hosting")
            assert (services.training_endpoint.name, services.hosting_endpoint.name) == (
                "train-ep",
                "host-ep",
            )
            assert services.quotas.table == services.submissions.table == "state"
            limits = services.quotas.limits
            assert limits.trainings_per_day == 7 and limits.concurrent_trainings == 1
            config = services.hosting_endpoint.client.meta.config
            assert (
                config.read_timeout == GENERATION_BUDGET_SECONDS and config.retries["total_max_attempts"] == 1
            )
            assert get_services() is services
    finally:
        use_services(None)
