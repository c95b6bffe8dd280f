"""SageMaker async notification parsing and selfie resizing."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from avatar_client import MAX_SIDE, parse_notification, prepare_selfie
from tests.fixtures.notifications import FAILURE, SUCCESS


def test_raw_success_notification() -> None:
    notification = parse_notification(json.dumps(SUCCESS))
    assert notification is not None
    assert notification.inference_id == "t-aaaaaaaaaaaaaaaaaaaa"
    assert notification.status == "completed"
    assert notification.request_parameters.input_location == "s3://data/trainings/o/t-1/input.tar.gz"
    assert notification.response_parameters.output_location == "s3://data/async-outputs/x.out"
    assert notification.failure_reason is None


def test_sns_wrapped_failure_notification() -> None:
    envelope = {
        "Type": "Notification",
        "MessageId": "1",
        "TopicArn": "arn:aws:sns:...",
        "Message": json.dumps(FAILURE),
    }
    notification = parse_notification(json.dumps(envelope).encode())
    assert notification is not None
    assert notification.status == "failed"
    assert "only 3 usable faces" in (notification.failure_reason or "")
    assert notification.response_parameters.failure_location == "s3://data/async-failures/x-error.out"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({"Type": "Notification", "Message": "not json"}),
        json.dumps({**SUCCESS, "eventSource": "aws:s3"}),
        json.dumps({**SUCCESS, "invocationStatus": "InProgress"}),
        json.dumps({k: v for k, v in SUCCESS.items() if k != "inferenceId"}),
        json.dumps({**SUCCESS, "inferenceId": ""}),
    ],
)
def test_other_messages_are_not_notifications(body: str) -> None:
    assert parse_notification(body) is None


def _image(size: tuple[int, int], fmt: str = "JPEG", orientation: int | None = None) -> bytes:
    image = Image.new("RGB", size, (200, 120, 40))
    image.paste((0, 0, 255), (0, 0, size[0] // 2, size[1] // 4))
    buffer = io.BytesIO()
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(buffer, format=fmt, exif=exif)
    else:
        image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_large_selfie_is_resized_to_1024_keeping_aspect() -> None:
    with Image.open(io.BytesIO(prepare_selfie(_image((3000, 2000))))) as out:
        assert out.format == "JPEG"
        assert out.size == (MAX_SIDE, 683)


def test_small_png_is_not_upscaled_and_becomes_jpeg() -> None:
    with Image.open(io.BytesIO(prepare_selfie(_image((300, 400), "PNG")))) as out:
        assert (out.format, out.size) == ("JPEG", (300, 400))


def test_exif_orientation_is_applied(tmp_path) -> None:
    path = tmp_path / "rotated.jpg"
    path.write_bytes(_image((2000, 1000), orientation=6))  # 6: rotate 90° clockwise to display
    with Image.open(io.BytesIO(prepare_selfie(path))) as out:
        assert out.size == (512, 1024)
