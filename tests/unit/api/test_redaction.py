"""What a caller reads never names this deployment's internals (issue 21, L7): `avatar_api.errors.redact`
and the one error mapping; the full text stays in the logs."""

from __future__ import annotations

import pytest

from avatar_api.errors import EndpointError, endpoint_failure, redact
from avatar_api.routers.common import http_status
from avatar_contract.names import Env

ACCOUNT = "123456789012"
SAGEMAKER_MODEL_ERROR = (
    'Received server error (500) from primary with message "boom". See '
    "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:group="
    f"/aws/sagemaker/Endpoints/avatar-hosting in account {ACCOUNT} for more information."
)
ACCESS_DENIED = (
    f"internal error: ClientError: User: arn:aws:sts::{ACCOUNT}:assumed-role/avatar-training-role/SageMaker "
    "is not authorized to perform: s3:PutObject on resource: "
    "arn:aws:s3:::avatar-data-bucket-1a2b/trainings/x because no identity-based policy allows it"
)
TRACEBACK = (
    "training failed\nTraceback (most recent call last):\n"
    "  File \"/opt/ml/code/training_service/service.py\", line 149, in run\nKeyError: 'x'"
)
LEAKS = [ACCOUNT, "arn:", "amazonaws.com", "avatar-training-role", "avatar-data-bucket-1a2b", "/opt/ml",
         "/aws/sagemaker", "Traceback", "0x7f", "s3://", "my-hosting-bucket"]  # fmt: skip


@pytest.fixture(autouse=True)
def buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(Env.DATA_BUCKET, "avatar-data-bucket-1a2b")
    monkeypatch.setenv(Env.HOSTING_BUCKET, "my-hosting-bucket")


@pytest.mark.parametrize(
    "text",
    [
        SAGEMAKER_MODEL_ERROR,
        ACCESS_DENIED,
        TRACEBACK,
        "could not upload the model to s3://my-hosting-bucket/models/abc/m-x.tar.gz: timeout",
        "NewConnectionError: <urllib3.connection.HTTPSConnection object at 0x7f12ab34cd56>: refused",
        "[Errno 2] No such file or directory: '/tmp/training-abc/base/unet.safetensors'",
        "the bucket my-hosting-bucket is not reachable",
    ],
)
def test_internals_are_redacted(text: str) -> None:
    shown = redact(text)
    assert shown, text
    for leak in LEAKS:
        assert leak not in shown, (leak, shown)


def test_what_a_caller_needs_is_kept() -> None:
    for text in (
        "only 3 usable faces; need 8",
        "model 'm-abc' is still training; delete it once GET /trainings/t-0123456789abcdefghij reports",
        "images[3].data: image has too many pixels (40000001)",
        "https://hooks.example.com/avatar is not allowed",
    ):
        assert redact(text) == text


def test_an_endpoint_failure_does_not_carry_sagemakers_message() -> None:
    error = endpoint_failure(EndpointError(SAGEMAKER_MODEL_ERROR, code="ModelError", status=424), "endpoint")
    assert http_status(error) == 502 and "ModelError" in error.message
    assert ACCOUNT not in error.message and "console" not in error.message
