"""The local moderation stand-ins through boto3's own clients (the wire protocols botocore speaks:
Comprehend's CBOR and JSON 1.1, Rekognition's JSON 1.1), SigV4-checked. Fast: starts only the stand-ins."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from PIL import Image, PngImagePlugin

from local_cloud.cloud import new_principal
from local_cloud.moderation import (
    FLAGGED_SCORE,
    IMAGE_MARKER_KEY,
    MARKED_CONFIDENCE,
    THROTTLE_MARKER,
    ModerationStandIns,
)

PRINCIPAL = new_principal("avatar-local-service")
REGION = "us-east-1"


def png(marker: str | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    if marker:
        info.add_text(IMAGE_MARKER_KEY, marker)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 30, 200)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[ModerationStandIns]:
    server = ModerationStandIns(REGION, {PRINCIPAL.access_key_id: PRINCIPAL})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def client(stand_ins: ModerationStandIns, service: str, secret: str | None = None, **config: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=stand_ins.url,
        region_name=REGION,
        aws_access_key_id=PRINCIPAL.access_key_id,
        aws_secret_access_key=secret or PRINCIPAL.secret_access_key,
        config=Config(retries={"max_attempts": 1}, **config),
    )


def test_toxic_content_over_cbor(stand_ins: ModerationStandIns) -> None:
    comprehend = client(stand_ins, "comprehend")
    result = comprehend.detect_toxic_content(
        TextSegments=[{"Text": "a portrait in the park"}, {"Text": "I will KILL you"}], LanguageCode="en"
    )["ResultList"]
    assert len(result) == 2
    assert result[0]["Toxicity"] < 0.5
    scores = {label["Name"]: label["Score"] for label in result[1]["Labels"]}
    assert scores["VIOLENCE_OR_THREAT"] == pytest.approx(FLAGGED_SCORE)
    assert scores["SEXUAL"] < 0.5
    assert result[1]["Toxicity"] == pytest.approx(FLAGGED_SCORE)


def test_comprehend_limits_and_throttling_are_real_errors(stand_ins: ModerationStandIns) -> None:
    comprehend = client(stand_ins, "comprehend")
    for segments, code in [
        ([{"Text": "x" * 1025}], "TextSizeLimitExceededException"),
        ([{"Text": "a"}] * 11, "InvalidRequestException"),
        ([{"Text": f"now {THROTTLE_MARKER}"}], "TooManyRequestsException"),
    ]:
        with pytest.raises(ClientError) as raised:
            comprehend.detect_toxic_content(TextSegments=segments, LanguageCode="en")
        assert raised.value.response["Error"]["Code"] == code


def test_a_wrong_signature_is_refused(stand_ins: ModerationStandIns) -> None:
    for service, call in [
        ("comprehend", lambda c: c.detect_toxic_content(TextSegments=[{"Text": "a"}], LanguageCode="en")),
        ("rekognition", lambda c: c.detect_moderation_labels(Image={"Bytes": png()})),
    ]:
        with pytest.raises(ClientError) as raised:
            call(client(stand_ins, service, secret="not-the-secret"))
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_moderation_labels_from_the_marker_chunk(stand_ins: ModerationStandIns) -> None:
    rekognition = client(stand_ins, "rekognition")
    clean = rekognition.detect_moderation_labels(Image={"Bytes": png()}, MinConfidence=50)
    assert clean["ModerationLabels"] == [] and clean["ModerationModelVersion"]
    marked = rekognition.detect_moderation_labels(
        Image={"Bytes": png("Explicit/Exposed Male Genitalia")}, MinConfidence=50
    )["ModerationLabels"]
    assert [(label["Name"], label["ParentName"], label["TaxonomyLevel"]) for label in marked] == [
        ("Explicit", "", 1),
        ("Exposed Male Genitalia", "Explicit", 2),
    ]
    assert marked[0]["Confidence"] == pytest.approx(MARKED_CONFIDENCE)
    above = rekognition.detect_moderation_labels(Image={"Bytes": png("Violence")}, MinConfidence=99.5)
    assert above["ModerationLabels"] == []  # MinConfidence filters as the service does


def test_registered_digest_and_errors(stand_ins: ModerationStandIns) -> None:
    rekognition = client(stand_ins, "rekognition")
    image = png() + b""  # the same bytes as a clean one, flagged by digest
    stand_ins.flag_image(image, "Visually Disturbing")
    labels = rekognition.detect_moderation_labels(Image={"Bytes": image})["ModerationLabels"]
    assert [label["Name"] for label in labels] == ["Visually Disturbing"]
    stand_ins.flagged_digests.clear()
    for data, code in [
        (b"not an image", "InvalidImageFormatException"),
        (png("throttle"), "ThrottlingException"),
    ]:
        with pytest.raises(ClientError) as raised:
            rekognition.detect_moderation_labels(Image={"Bytes": data})
        assert raised.value.response["Error"]["Code"] == code
