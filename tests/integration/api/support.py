"""Helpers for the API tests: real API Gateway REST proxy events (with the IAM request context), a
Lambda context, test images, and a recorder for the SageMaker runtime calls (moto only cans those)."""

from __future__ import annotations

import base64
import io
import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.response import StreamingBody
from botocore.stub import Stubber
from PIL import Image

ACCOUNT = "123456789012"
ALICE = f"arn:aws:sts::{ACCOUNT}:assumed-role/AppUsers/alice"
BOB = f"arn:aws:sts::{ACCOUNT}:assumed-role/AppUsers/bob"
REGION = "us-east-1"
# One botocore session for every test client: its loaded service models are reused (faster set-up).
SESSION = boto3.session.Session(region_name=REGION)


def rest_event(
    method: str,
    path: str,
    *,
    resource: str,
    path_parameters: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    user_arn: str | None = ALICE,
    cognito_identity_id: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event as API Gateway sends it for an AWS_IAM-authorized method."""
    request_id = str(uuid.uuid4())
    all_headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Host": "abc123.execute-api.us-east-1.amazonaws.com",
        "X-Amz-Date": "20260101T000000Z",
        "X-Amzn-Trace-Id": "Root=1-00000000-000000000000000000000000",
        **(headers or {}),
    }
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
    identity = {
        "cognitoIdentityPoolId": None,
        "accountId": ACCOUNT if user_arn else None,
        "cognitoIdentityId": cognito_identity_id,
        "caller": "AROAEXAMPLE:alice" if user_arn else None,
        "sourceIp": "203.0.113.10",
        "principalOrgId": None,
        "accessKey": "ASIAEXAMPLE" if user_arn else None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "userArn": user_arn,
        "userAgent": "avatar-client/1.0",
        "user": "AROAEXAMPLE:alice" if user_arn else None,
    }
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "abc123",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": "Xyz=",
            "requestTime": "01/Jan/2026:00:00:00 +0000",
            "path": f"/prod{path}",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": "prod",
            "domainPrefix": "abc123",
            "requestTimeEpoch": 1767225600000,
            "requestId": request_id,
            "identity": identity,
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "apiId": "abc123",
        },
        "body": body,
        "isBase64Encoded": False,
    }


@dataclass
class LambdaContext:
    function_name: str = "avatar-api-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:avatar-api-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int = 29_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (96, 96), seed: int = 0) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", size)
    image.putdata(
        [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(size[0] * size[1])]
    )
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def selfies(count: int = 10) -> list[dict[str, str]]:
    return [{"data": b64(image_bytes("PNG" if i % 2 else "JPEG", seed=i))} for i in range(count)]


def response_json(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(response["body"])


def header(response: dict[str, Any], name: str) -> str | None:
    for key, values in (response.get("multiValueHeaders") or {}).items():
        if key.lower() == name.lower():
            return values[0]
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name.lower():
            return value
    return None


class RecordedRuntime:
    """A sagemaker-runtime client whose calls are answered by botocore's Stubber and whose exact
    request parameters are recorded (as the client was asked to send them)."""

    def __init__(self) -> None:
        self.client = SESSION.client("sagemaker-runtime")
        self.stubber = Stubber(self.client)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.client.meta.events.register("provide-client-params.sagemaker-runtime.*", self._record)
        self.stubber.activate()

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def queue_async_ok(self, output_location: str, failure_location: str) -> None:
        self.stubber.add_response(
            "invoke_endpoint_async",
            {
                "InferenceId": "set-by-test",
                "OutputLocation": output_location,
                "FailureLocation": failure_location,
            },
        )

    def queue_error(self, method: str, code: str, status: int, message: str = "refused") -> None:
        self.stubber.add_client_error(
            method, service_error_code=code, service_message=message, http_status_code=status
        )

    def queue_images(self, images: list[bytes]) -> None:
        body = json.dumps(
            {
                "model_name": "m",
                "outputs": [
                    {
                        "name": "generated_image",
                        "datatype": "BYTES",
                        "shape": [len(images)],
                        "data": [b64(i) for i in images],
                    }
                ],
            }
        ).encode()
        self.stubber.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": "application/json"},
        )
