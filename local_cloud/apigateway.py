"""A local API Gateway (REST API, `AWS_IAM` on every method) in front of the real Lambda handlers.

For each request it does what API Gateway does before and after a Lambda proxy integration:
verify SigV4 (403 otherwise, with API Gateway's `{"message": ...}` body and `x-amzn-ErrorType`), match
the route table of `avatar_contract.routes` (unknown resources answer 403 "Missing Authentication
Token", as API Gateway does), enforce the 10 MB payload limit, build the REST proxy event with the
verified caller in `requestContext.identity`, invoke the function and turn its proxy response into the
HTTP response (502 on a function error or malformed response, 504 after the integration timeout).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import secrets
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from avatar_contract.routes import ROUTES, Route
from local_cloud.http_server import LocalHttpServer, ServedOverHttp
from local_cloud.lambda_runtime import LambdaFunction, LambdaInvocationError, LambdaTimeout
from local_cloud.settings import ACCOUNT_ID
from local_cloud.sigv4 import Principal, SignatureError

log = logging.getLogger(__name__)
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}


class RouteTable:
    """The deployed API's resources: match a path and method to a route and its path parameters."""

    def __init__(self, routes: tuple[Route, ...] = ROUTES) -> None:
        self._routes = [(route, route.path.split("/")) for route in routes]

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        """Match the path as sent (percent-encoded): each segment is decoded exactly once, so `a%2Fb` is
        the parameter `a/b` and `a%252F` is `a%2F`, never `a/`."""
        segments = [unquote(segment) for segment in raw_path.split("/")]
        for route, template in self._routes:
            if route.method != method or len(template) != len(segments):
                continue
            parameters: dict[str, str] = {}
            for part, segment in zip(template, segments, strict=True):
                if part.startswith("{") and part.endswith("}"):
                    if not segment:
                        break
                    parameters[part[1:-1]] = segment
                elif part != segment:
                    break
            else:
                return route, parameters
        return None


def build_proxy_event(
    *,
    route: Route,
    method: str,
    path: str,
    stage: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    path_parameters: dict[str, str],
    principal: Principal,
    source_ip: str,
    api_id: str,
    domain_name: str,
) -> dict[str, Any]:
    """The Lambda proxy integration event of a REST API (payload format 1.0)."""
    single_headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        single_headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    query = parse_qsl(raw_query, keep_blank_values=True)
    single_query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        single_query[name] = value
        multi_query.setdefault(name, []).append(value)
    try:
        text_body: str | None = body.decode("utf-8") if body else None
        is_base64 = False
    except UnicodeDecodeError:
        text_body, is_base64 = base64.b64encode(body).decode(), True
    now = dt.datetime.now(dt.UTC)
    request_id = str(uuid.uuid4())
    user_agent = single_headers.get("User-Agent") or next(
        (v for k, v in single_headers.items() if k.lower() == "user-agent"), None
    )
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": secrets.token_hex(3),
            "resourcePath": route.path,
            "httpMethod": method,
            "extendedRequestId": base64.b64encode(secrets.token_bytes(12)).decode(),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": domain_name.split(".")[0],
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {
                **_cognito_identity(principal),
                "accountId": principal.account_id,
                "caller": principal.user_id,
                "sourceIp": source_ip,
                "principalOrgId": None,
                "accessKey": principal.access_key_id,
                "userArn": principal.arn,
                "userAgent": user_agent,
                "user": principal.user_id,
            },
            "domainName": domain_name,
            "apiId": api_id,
        },
        "body": text_body,
        "isBase64Encoded": is_base64,
    }


def _cognito_identity(principal: Principal) -> dict[str, str | None]:
    """The identity-pool fields of `requestContext.identity`: all None for an IAM user; for credentials of
    an identity pool's authenticated role, what API Gateway reports (provider: `<user pool provider>,
    <user pool provider>:CognitoSignIn:<sub>`)."""
    cognito = principal.cognito
    if cognito is None:
        return dict.fromkeys(
            (
                "cognitoIdentityPoolId",
                "cognitoIdentityId",
                "cognitoAuthenticationType",
                "cognitoAuthenticationProvider",
            )
        )
    return {
        "cognitoIdentityPoolId": cognito.identity_pool_id,
        "cognitoIdentityId": cognito.identity_id,
        "cognitoAuthenticationType": "authenticated",
        "cognitoAuthenticationProvider": (
            f"{cognito.provider},{cognito.provider}:CognitoSignIn:{cognito.subject}"
        ),
    }


class LocalApiGateway(ServedOverHttp):
    """The HTTP server. `url` is the stage's invoke URL (`http://127.0.0.1:<port>/<stage>`)."""

    def __init__(
        self,
        functions: Mapping[str, LambdaFunction],
        principals: Mapping[str, Principal],
        region: str,
        stage: str,
        access_log: logging.Logger | None = None,
    ) -> None:
        self.functions = functions
        self.principals = principals
        self.region = region
        self.stage = stage
        self.api_id = secrets.token_hex(5)
        self.routes = RouteTable()
        self.access_log = access_log or log
        self._server = LocalHttpServer(
            "LocalApiGateway",
            lambda r: self.handle(r.method, r.target, r.headers, r.body, r.client_ip),
            lambda _: _gateway_error(500, "DEFAULT_5XX", "Internal server error"),
            self.access_log,
            max_body_bytes=MAX_PAYLOAD_BYTES,
            on_too_large=lambda: _gateway_error(
                413, "REQUEST_TOO_LARGE", f"HTTP content length exceeded {MAX_PAYLOAD_BYTES} bytes."
            ),
        )

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return f"{self._server.url}/{self.stage}"

    def handle(
        self, method: str, raw_target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> tuple[int, dict[str, str], bytes]:
        """One request through API Gateway: authorize, route, invoke, map the response."""
        parts = urlsplit(raw_target)
        raw_path, raw_query = parts.path, parts.query
        header_map = {name: value for name, value in headers}
        try:
            principal = self._verify_signed_for_this_host(method, parts, header_map, body, "execute-api")
        except SignatureError as exc:
            if exc.error_type == "ForbiddenException":  # not this API's host: no API, no gateway response
                return _forbidden()
            response_type = (
                "MISSING_AUTHENTICATION_TOKEN"
                if exc.error_type.startswith("Missing")
                else "INVALID_SIGNATURE"
            )
            return _gateway_error(403, response_type, exc.message, exc.error_type)
        stage_prefix = f"/{self.stage}"
        if not (raw_path == stage_prefix or raw_path.startswith(stage_prefix + "/")):
            return _gateway_error(
                403,
                "MISSING_AUTHENTICATION_TOKEN",
                "Missing Authentication Token",
                "MissingAuthenticationTokenException",
            )
        raw_resource_path = raw_path[len(stage_prefix) :] or "/"
        resource_path = unquote(raw_resource_path)
        matched = self.routes.match(method, raw_resource_path)
        if matched is None:
            return _gateway_error(
                403,
                "MISSING_AUTHENTICATION_TOKEN",
                "Missing Authentication Token",
                "MissingAuthenticationTokenException",
            )
        route, path_parameters = matched
        invalid = _validate_request(route, header_map, body)
        if invalid is not None:
            return invalid
        event = build_proxy_event(
            route=route,
            method=method,
            path=resource_path,
            stage=self.stage,
            raw_query=raw_query,
            headers=headers,
            body=body,
            path_parameters=path_parameters,
            principal=principal,
            source_ip=source_ip,
            api_id=self.api_id,
            domain_name=header_map.get("Host") or header_map.get("host") or "127.0.0.1",
        )
        function = self.functions[route.function.name]
        try:
            result = function.invoke(event)
        except LambdaTimeout:
            return _gateway_error(504, "INTEGRATION_TIMEOUT", "Endpoint request timed out")
        except LambdaInvocationError as exc:
            log.error("function %s failed: %s", route.function.name, exc)
            return _gateway_error(502, "INTEGRATION_FAILURE", "Internal server error")
        return _proxy_response(result, event["requestContext"]["requestId"])


def _forbidden() -> tuple[int, dict[str, str], bytes]:
    """What AWS answers a request for a host that no API of it serves."""
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": "ForbiddenException"}
    return 403, {**headers, "x-amzn-RequestId": str(uuid.uuid4())}, b'{"message":"Forbidden"}'


def _gateway_error(
    status: int, response_type: str, message: str, error_type: str = ""
) -> tuple[int, dict[str, str], bytes]:
    """An error API Gateway answers itself, rendered as the stack's gateway responses render it
    (stacks/api.py `_gateway_responses`: `{"error": {"code": $context.error.responseType, "message":
    $context.error.messageString}}` for every 4xx/5xx, `invalid_request` for request validation)."""
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())}
    if error_type:
        headers["x-amzn-ErrorType"] = error_type
    code = (
        "invalid_request"
        if response_type in ("BAD_REQUEST_BODY", "BAD_REQUEST_PARAMETERS")
        else response_type
    )
    return status, headers, json.dumps({"error": {"code": code, "message": message}}).encode()


def _validate_request(
    route: Route, headers: Mapping[str, str], body: bytes
) -> tuple[int, dict[str, str], bytes] | None:
    """The stack's request validators: methods with a body require `Content-Type` and, for JSON, a body
    that is a JSON object (model `JsonObject`); the function validates the fields."""
    if route.method not in {"POST", "PUT", "PATCH"}:
        return None
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if not content_type:
        return _gateway_error(
            400, "BAD_REQUEST_PARAMETERS", "Missing required request parameters: [Content-Type]"
        )
    if content_type.split(";")[0].strip().lower() != "application/json":
        return None
    try:
        document = json.loads(body or b"null")
    except ValueError:
        return _gateway_error(400, "BAD_REQUEST_BODY", "Invalid request body")
    if not isinstance(document, dict):
        kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
            type(document), "number"
        )
        return _gateway_error(
            400,
            "BAD_REQUEST_BODY",
            f'[instance type ({kind}) does not match any allowed primitive type (allowed: ["object"])]',
        )
    return None


def _proxy_response(result: Any, request_id: str) -> tuple[int, dict[str, str], bytes]:
    """Map a proxy integration response; a malformed one is a 502, as API Gateway does."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        log.error("malformed Lambda proxy response: %r", result)
        return _gateway_error(502, "INTEGRATION_FAILURE", "Internal server error")
    headers = {k: str(v) for k, v in (result.get("headers") or {}).items() if k.lower() not in _HOP_BY_HOP}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if name.lower() not in _HOP_BY_HOP and values:
            headers[name] = ", ".join(str(v) for v in values)
    headers.setdefault("Content-Type", "application/json")
    headers["x-amzn-RequestId"] = request_id
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return result["statusCode"], headers, body
