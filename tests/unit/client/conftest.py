"""Client fixtures: an `AvatarClient` whose transport hands signed requests to the real Lambda handlers
(after checking the SigV4 signature with botocore), on moto's S3 and SQS."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from avatar_client import AvatarClient
from tests.integration.api import conftest as api_conftest
from tests.integration.api.conftest import Api
from tests.integration.api.support import ALICE, REGION

# The API fixtures (moto, stubbed runtime, environment), shared with tests/integration/api.
api = api_conftest.api
_environment = api_conftest._environment

ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com/prod"
CREDENTIALS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")


def verify_sigv4(
    method: str, url: str, headers: dict[str, str], body: bytes | None, creds: Credentials
) -> bool:
    """Recompute the signature of a received request with botocore's SigV4 signer and compare."""
    authorization = headers["Authorization"]
    signed_names = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    request = AWSRequest(
        method=method,
        url=url,
        data=body or b"",
        headers={k: v for k, v in headers.items() if k.lower() in signed_names},
    )
    request.context["timestamp"] = headers["X-Amz-Date"]
    auth = SigV4Auth(creds, "execute-api", REGION)
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    return hmac.compare_digest(expected, authorization.rsplit("Signature=", 1)[1])


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
            response = requests.request(method, url, data=body, timeout=timeout)
            return response.status_code, dict(response.headers), response.content
        self.requests.append((method, url, headers, body))
        if not verify_sigv4(method, url, headers, body, CREDENTIALS):
            return 403, {}, b'{"message": "signature does not match"}'
        assert hashlib.sha256(body or b"").hexdigest()  # body is bytes
        path = urlsplit(url).path.removeprefix("/prod")
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


def gen_response(backend: Api, count: int = 1) -> Any:
    from tests.integration.api.test_models_and_generations import png

    backend.hosting.queue_images([png(seed=i) for i in range(count)])
