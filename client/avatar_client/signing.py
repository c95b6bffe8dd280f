"""SigV4 signing of API Gateway requests with botocore's own signer (service `execute-api`)."""

from __future__ import annotations

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials

SERVICE = "execute-api"


def sign_request(
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    credentials: Credentials | ReadOnlyCredentials,
    region: str,
) -> dict[str, str]:
    """The headers to send: `headers` plus X-Amz-Date, X-Amz-Security-Token (if any) and Authorization."""
    request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers))
    SigV4Auth(credentials, SERVICE, region).add_auth(request)
    return dict(request.headers.items())
