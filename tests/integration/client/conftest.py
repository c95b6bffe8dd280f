"""Client fixtures: an `AvatarClient` whose transport hands signed requests to the real Lambda handlers
(after checking the SigV4 signature with botocore), on moto's S3 and SQS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from avatar_client import AvatarClient
from tests.fixtures import api_backend
from tests.fixtures.api import ALICE, png
from tests.fixtures.api_backend import Api
from tests.fixtures.sigv4 import CREDENTIALS, ENDPOINT, REGION, verify_sigv4

# The API on moto (moto, stubbed runtime, environment), shared with tests/integration/api.
api = api_backend.api
faces_found_once = api_backend.faces_found_once
aws_test_environment = api_backend.aws_test_environment

BODY_METHODS = ("POST", "PUT", "PATCH")


class HandlerTransport:
    """API calls go to the Lambda handlers as REST proxy events; presigned S3 URLs go to moto."""

    def __init__(self, backend: Api, user_arn: str = ALICE) -> None:
        self.api = backend
        self.user_arn = user_arn
        self.requests: list[tuple[str, str, dict[str, str], bytes | None]] = []

    def __call__(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        if not url.startswith(ENDPOINT):
            response = requests.request(method, url, data=body, headers=headers, timeout=timeout)
            return response.status_code, dict(response.headers), response.content
        self.requests.append((method, url, headers, body))
        if not verify_sigv4(method, url, headers, body, CREDENTIALS):
            return 403, {}, b'{"message": "signature does not match"}'
        assert body is None or isinstance(body, bytes), type(body)  # the transport contract: raw bytes
        if method in BODY_METHODS:
            # What the stack's request validator admits: a JSON object with its Content-Type.
            assert headers.get("Content-Type") == "application/json", headers
            assert isinstance(json.loads(body or b"null"), dict), body
        parts = urlsplit(url)
        path = parts.path.removeprefix("/prod") + (f"?{parts.query}" if parts.query else "")
        result = self.api.call(
            method,
            path,
            body.decode() if body else None,
            user=self.user_arn,
            headers={k: v for k, v in headers.items() if k.lower() not in ("content-type",)},
        )
        response_headers = {k: v[0] for k, v in (result.get("multiValueHeaders") or {}).items()}
        response_headers.update(result.get("headers") or {})
        return result["statusCode"], response_headers, result["body"].encode()


@pytest.fixture
def transport(api: Api) -> HandlerTransport:
    return HandlerTransport(api)


@pytest.fixture
def client(transport: HandlerTransport) -> Iterator[AvatarClient]:
    yield AvatarClient(ENDPOINT, REGION, credentials=CREDENTIALS, transport=transport)


def gen_response(backend: Api, count: int = 1) -> None:
    backend.hosting.queue_images([png(seed=i) for i in range(count)])
