"""The local SigV4 verifier as API Gateway checks a request: signed payloads only, the Host it serves,
presigned (query-string) signatures, and path parameters decoded once (no server is started)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local_cloud.apigateway import LocalApiGateway, RouteTable
from local_cloud.cloud import new_principal
from local_cloud.sigv4 import Principal, SignatureError, verify_sigv4

HOST = "127.0.0.1:4566"
PRINCIPAL = new_principal("avatar-local-user-1")
PRINCIPALS = {PRINCIPAL.access_key_id: PRINCIPAL}


def _credentials(principal: Principal = PRINCIPAL) -> Credentials:
    return Credentials(principal.access_key_id, principal.secret_access_key)


def _signed(method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None) -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(_credentials(), "execute-api", "us-east-1").add_auth(request)
    return request


def _presigned(method: str, url: str, expires: int = 60, at: dt.datetime | None = None) -> str:
    request = AWSRequest(method=method, url=url)
    signer = SigV4QueryAuth(_credentials(), "execute-api", "us-east-1", expires=expires)
    if at is None:
        signer.add_auth(request)
    else:  # as if signed at `at`: botocore's own steps, under that timestamp
        request.context["timestamp"] = at.strftime("%Y%m%dT%H%M%SZ")
        signer._modify_request_before_signing(request)
        canonical = signer.canonical_request(request)
        signer._inject_signature_to_request(
            request, signer.signature(signer.string_to_sign(request, canonical), request)
        )
    return request.url


def _verify(
    method: str, url: str, headers: dict[str, str], body: bytes = b"", now: dt.datetime | None = None
) -> Principal:
    parts = urlsplit(url)
    return verify_sigv4(
        method=method, raw_path=parts.path, raw_query=parts.query, headers={"Host": parts.netloc, **headers},
        body=body, principals=PRINCIPALS, service="execute-api", region="us-east-1", hosts=(HOST,), now=now,
    )  # fmt: skip


def test_a_signed_body_is_accepted_and_unsigned_payload_is_refused() -> None:
    body = b'{"count": 3}'
    signed = _signed("POST", f"http://{HOST}/v1/uploads", body)
    assert _verify("POST", signed.url, dict(signed.headers.items()), body) == PRINCIPAL
    # a signature over "UNSIGNED-PAYLOAD" (what S3 clients send) is valid SigV4, and still refused
    unsigned = _signed(
        "POST", f"http://{HOST}/v1/uploads", body, {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    )
    with pytest.raises(SignatureError) as refused:
        _verify("POST", unsigned.url, dict(unsigned.headers.items()), body)
    assert refused.value.error_type == "InvalidSignatureException"
    assert "signature we calculated does not match" in refused.value.message
    # the body's own hash, signed: accepted; another body under it: refused
    sha = hashlib.sha256(body).hexdigest()
    hashed = _signed("POST", f"http://{HOST}/v1/uploads", body, {"X-Amz-Content-SHA256": sha})
    assert _verify("POST", hashed.url, dict(hashed.headers.items()), body) == PRINCIPAL
    with pytest.raises(SignatureError, match="does not match the body"):
        _verify("POST", hashed.url, dict(hashed.headers.items()), b'{"count": 4}')


def test_a_request_signed_for_another_host_is_refused() -> None:
    elsewhere = _signed("GET", "https://abc123.execute-api.us-east-1.amazonaws.com/v1/models")
    headers = dict(elsewhere.headers.items())
    headers["Host"] = "abc123.execute-api.us-east-1.amazonaws.com"  # replayed with its own Host header
    with pytest.raises(SignatureError) as refused:
        verify_sigv4(
            method="GET", raw_path="/v1/models", raw_query="", headers=headers, body=b"",
            principals=PRINCIPALS, service="execute-api", region="us-east-1", hosts=(HOST,),
        )  # fmt: skip
    assert refused.value.error_type == "ForbiddenException"
    # and with this server's Host instead, the signature no longer matches
    headers["Host"] = HOST
    with pytest.raises(SignatureError, match="does not match"):
        _verify("GET", f"http://{HOST}/v1/models", headers)


def test_presigned_urls_are_accepted_until_they_expire() -> None:
    url = _presigned("GET", f"http://{HOST}/v1/models?limit=5&next=a%20b")
    assert "X-Amz-Signature=" in url and "limit=5" in url
    assert _verify("GET", url, {}) == PRINCIPAL
    at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=120)
    old = _presigned("GET", f"http://{HOST}/v1/models", expires=600, at=at)
    assert _verify("GET", old, {}) == PRINCIPAL  # within its 600 s
    with pytest.raises(SignatureError, match="Signature expired"):
        _verify("GET", _presigned("GET", f"http://{HOST}/v1/models", expires=60, at=at), {})


@pytest.mark.parametrize("change", ["query", "path", "method", "signature", "expires", "key", "both"])
def test_changed_presigned_urls_are_refused(change: str) -> None:
    url = _presigned("GET", f"http://{HOST}/v1/models?limit=5")
    method, headers = "GET", {}
    if change == "query":
        url = url.replace("limit=5", "limit=6")
    elif change == "path":
        url = url.replace("/v1/models", "/v1/trainings")
    elif change == "method":
        method = "DELETE"
    elif change == "signature":
        url = url[:-1] + ("0" if url[-1] != "0" else "1")
    elif change == "expires":
        url = url.replace("X-Amz-Expires=60", "X-Amz-Expires=3600")
    elif change == "key":
        other = dataclasses.replace(PRINCIPAL, secret_access_key="x" * 40)
        request = AWSRequest(method="GET", url=f"http://{HOST}/v1/models?limit=5")
        SigV4QueryAuth(_credentials(other), "execute-api", "us-east-1", expires=60).add_auth(request)
        url = request.url
    elif change == "both":
        headers = dict(_signed("GET", f"http://{HOST}/v1/models?limit=5").headers.items())
    with pytest.raises(SignatureError) as refused:
        _verify(method, url, headers)
    expected = "IncompleteSignatureException" if change == "both" else "InvalidSignatureException"
    assert refused.value.error_type == expected


def test_path_parameters_are_decoded_once() -> None:
    table = RouteTable()
    route, parameters = table.match("POST", "/models/a%252Fb/generations") or (None, {})
    assert route is not None and route.path == "/models/{model_id}/generations"
    assert parameters == {"model_id": "a%2Fb"}  # once: not "a/b"
    assert table.match("POST", "/models/a%2Fb/generations")[1] == {"model_id": "a/b"}  # type: ignore[index]
    assert table.match("GET", "/mod%65ls") is not None  # literal segments compare decoded
    assert table.match("POST", "/models//generations") is None  # an empty parameter matches nothing


class _EchoFunction:
    """Stands in for a Lambda function: answers with the event it got (the gateway is under test)."""

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return {"statusCode": 200, "body": json.dumps(event)}


def test_the_gateway_passes_path_parameters_decoded_once_and_refuses_other_hosts() -> None:
    route = RouteTable().match("GET", "/trainings/t-1")
    assert route is not None
    gateway = LocalApiGateway({route[0].function.name: _EchoFunction()}, PRINCIPALS, "us-east-1", "v1")  # type: ignore[dict-item]
    gateway.start()
    try:
        host = f"127.0.0.1:{gateway.port}"
        signed = _signed("GET", f"http://{host}/v1/trainings/t%2525x")
        headers = [("Host", host), *signed.headers.items()]
        status, _, body = gateway.handle("GET", "/v1/trainings/t%2525x", headers, b"", "127.0.0.1")
        assert status == 200
        event = json.loads(body)
        assert event["pathParameters"] == {"training_id": "t%25x"}
        presigned = urlsplit(_presigned("GET", f"http://{host}/v1/trainings/t-1"))
        target = f"{presigned.path}?{presigned.query}"
        status, _, body = gateway.handle("GET", target, [("Host", host)], b"", "127.0.0.1")
        assert status == 200 and json.loads(body)["pathParameters"] == {"training_id": "t-1"}
        other = _signed("GET", "http://localhost:1/v1/trainings/t-1")
        status, headers_out, body = gateway.handle(
            "GET", "/v1/trainings/t-1", [("Host", "localhost:1"), *other.headers.items()], b"", "127.0.0.1"
        )
        assert status == 403 and json.loads(body) == {"message": "Forbidden"}
        assert headers_out["x-amzn-ErrorType"] == "ForbiddenException"
    finally:
        gateway.stop()
