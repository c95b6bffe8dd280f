"""The local API Gateway's SigV4 check and proxy events, without starting anything (fast)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from avatar_contract.routes import ROUTES
from local_cloud.apigateway import RouteTable, build_proxy_event
from local_cloud.cloud import new_principal
from local_cloud.sigv4 import SignatureError, verify_sigv4
from tests.e2e.helpers import sign

HOST = "127.0.0.1:4566"
PRINCIPAL = new_principal("avatar-local-user-1")
PRINCIPALS = {PRINCIPAL.access_key_id: PRINCIPAL}


def _verify(method: str, path: str, body: bytes, headers: dict[str, str], now: dt.datetime | None = None):
    raw_path, _, raw_query = path.partition("?")
    headers = {"Host": HOST, **headers}  # what the HTTP client adds on the wire
    return verify_sigv4(
        method=method, raw_path=raw_path, raw_query=raw_query, headers=headers, body=body,
        principals=PRINCIPALS, service="execute-api", region="us-east-1", now=now,
    )  # fmt: skip


def test_botocore_signature_is_accepted() -> None:
    body = b'{"count": 3}'
    headers = sign(PRINCIPAL, "POST", f"http://{HOST}/v1/uploads?x=1&y=a%20b", body, {"X-Note": "n"})
    assert _verify("POST", "/v1/uploads?x=1&y=a%20b", body, headers) == PRINCIPAL


@pytest.mark.parametrize(
    ("change", "error_type"),
    [
        ("body", "InvalidSignatureException"),
        ("path", "InvalidSignatureException"),
        ("query", "InvalidSignatureException"),
        ("method", "InvalidSignatureException"),
        ("header", "InvalidSignatureException"),
        ("unsigned", "MissingAuthenticationTokenException"),
        ("unknown_key", "UnrecognizedClientException"),
        ("garbled", "IncompleteSignatureException"),
        ("region", "InvalidSignatureException"),
        ("token", "UnrecognizedClientException"),
    ],
)
def test_changed_or_forged_requests_are_refused(change: str, error_type: str) -> None:
    method, path, body = "POST", "/v1/uploads?x=1", b'{"count": 3}'
    signer, region = PRINCIPAL, "us-east-1"
    if change == "unknown_key":
        signer = dataclasses.replace(PRINCIPAL, access_key_id="AKIAUNKNOWN000000000")
    if change == "region":
        region = "eu-west-1"
    headers = sign(signer, method, f"http://{HOST}{path}", body, {"X-Note": "n"}, region)
    if change == "body":
        body = b'{"count": 4}'
    elif change == "path":
        path = "/v1/trainings?x=1"
    elif change == "query":
        path = "/v1/uploads?x=2"
    elif change == "method":
        method = "PUT"
    elif change == "header":
        headers["X-Note"] = "changed"
    elif change == "unsigned":
        del headers["Authorization"]
    elif change == "garbled":
        headers["Authorization"] = "AWS4-HMAC-SHA256 nonsense"
    elif change == "token":
        headers["X-Amz-Security-Token"] = "forged"
    with pytest.raises(SignatureError) as refused:
        _verify(method, path, body, headers)
    assert refused.value.error_type == error_type


@pytest.mark.parametrize("minutes", [-6, 6])
def test_signatures_outside_five_minutes_are_refused(minutes: int) -> None:
    at = dt.datetime.now(dt.UTC)
    headers = sign(PRINCIPAL, "GET", f"http://{HOST}/v1/models", b"", {}, at=at)
    assert _verify("GET", "/v1/models", b"", headers, now=at + dt.timedelta(minutes=4)) == PRINCIPAL
    with pytest.raises(SignatureError, match=r"Signature (expired|not yet current)"):
        _verify("GET", "/v1/models", b"", headers, now=at + dt.timedelta(minutes=-minutes))


def test_routes_match_the_route_table_and_decode_path_parameters() -> None:
    table = RouteTable()
    for route in ROUTES:
        path = route.path.replace("{model_id}", "m-1").replace("{training_id}", "t-1")
        matched = table.match(route.method, path)
        assert matched is not None and matched[0] == route
    assert table.match("GET", "/models/m%2D1/generations") is None  # wrong method
    assert table.match("POST", "/models/a%2Fb/generations") == (
        next(r for r in ROUTES if r.path == "/models/{model_id}/generations"),
        {"model_id": "a/b"},
    )
    assert table.match("GET", "/nope") is None


def test_proxy_event_carries_the_verified_identity() -> None:
    route = next(r for r in ROUTES if r.path == "/trainings/{training_id}")
    event = build_proxy_event(
        route=route, method="GET", path="/trainings/t-1", stage="v1", raw_query="a=1&a=2&b=",
        headers=[("Host", HOST), ("X-A", "1"), ("X-A", "2")], body=b"",
        path_parameters={"training_id": "t-1"},
        principal=PRINCIPAL, source_ip="127.0.0.1", api_id="abc", domain_name=HOST,
    )  # fmt: skip
    identity = event["requestContext"]["identity"]
    assert identity["userArn"] == PRINCIPAL.arn
    assert identity["accessKey"] == PRINCIPAL.access_key_id
    assert identity["caller"] == identity["user"] == PRINCIPAL.user_id
    assert identity["accountId"] == PRINCIPAL.account_id
    assert event["resource"] == event["requestContext"]["resourcePath"] == "/trainings/{training_id}"
    assert event["requestContext"]["path"] == "/v1/trainings/t-1"
    assert event["requestContext"]["stage"] == "v1" and event["requestContext"]["requestId"]
    assert event["pathParameters"] == {"training_id": "t-1"}
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert event["multiValueHeaders"]["X-A"] == ["1", "2"]
    assert event["body"] is None and event["isBase64Encoded"] is False
