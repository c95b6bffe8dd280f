"""SigV4 verification for the local API Gateway (and the local SageMaker runtime).

API Gateway with `AWS_IAM` authorization recomputes the caller's signature and rejects the request with
403 before any Lambda function runs. We do the same by rebuilding the request from what arrived (method,
raw path and query, the body, and only the headers the caller says it signed) and asking botocore's own
signer for the signature under the caller's X-Amz-Date, so the canonicalisation is exactly the one every
AWS SDK uses: `SigV4Auth` for an Authorization header, `SigV4QueryAuth` for a presigned URL (the
`X-Amz-*` query parameters, canonical query without `X-Amz-Signature`). Hand-written parts are limited
to parsing the signature's parameters and the checks AWS makes around it, which botocore does not do
because it only signs: key known, scope, clock skew or expiry, the Host the request was sent to, and the
payload hash, always that of the body received (API Gateway signs payloads: `UNSIGNED-PAYLOAD` is S3's).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from botocore.auth import UNSIGNED_PAYLOAD, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MAX_CLOCK_SKEW = dt.timedelta(minutes=5)
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600  # SigV4's limit for X-Amz-Expires
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True)
class CognitoIdentity:
    """Who holds temporary credentials of an identity pool's authenticated role (local_cloud.identity_pool):
    what API Gateway reports as `cognitoIdentityId`, `cognitoIdentityPoolId` and the provider."""

    identity_id: str
    identity_pool_id: str
    provider: str  # cognito-idp.<region>.amazonaws.com/<user pool id>
    subject: str  # the user pool's `sub`
    role_name: str
    role_id: str  # the role's unique id (AROA...)


@dataclass(frozen=True)
class Principal:
    """A local IAM identity: what API Gateway would report in `requestContext.identity`.

    Long-term keys of an IAM user, or (with `session_token`) temporary credentials of a Cognito identity,
    which only sign with their session token and only until `expires_at`."""

    name: str
    access_key_id: str
    secret_access_key: str
    user_id: str  # the IAM unique id (AIDA...), reported as `caller` and `user`
    account_id: str
    session_token: str | None = None
    expires_at: dt.datetime | None = None
    cognito: CognitoIdentity | None = None

    @property
    def arn(self) -> str:
        if self.cognito is not None:
            return f"arn:aws:sts::{self.account_id}:assumed-role/{self.cognito.role_name}/{self.name}"
        return f"arn:aws:iam::{self.account_id}:user/{self.name}"


class SignatureError(Exception):
    """The request is not authentic. `error_type` and `message` are what API Gateway answers (403)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def verify_sigv4(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    principals: Mapping[str, Principal],
    service: str,
    region: str,
    hosts: Collection[str] | None = None,
    now: dt.datetime | None = None,
) -> Principal:
    """Return the principal whose key signed this request, or raise `SignatureError`.

    `hosts`: the Host header values this server answers to (None: any). A request signed for another
    host (e.g. the deployed API) is refused as AWS refuses a request for a host it does not serve."""
    lower = {k.lower(): v for k, v in headers.items()}
    query = parse_qsl(raw_query, keep_blank_values=True)
    presigned = any(name in ("X-Amz-Algorithm", "X-Amz-Signature") for name, _ in query)
    if presigned and "authorization" in lower:
        raise SignatureError(
            "IncompleteSignatureException",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the "
            "Authorization header should be specified.",
        )
    signed = _from_query(dict(query)) if presigned else _from_header(lower)
    credential_parts = signed.credential.split("/")
    if len(credential_parts) != 5 or credential_parts[4] != "aws4_request":
        raise SignatureError("IncompleteSignatureException", "Credential should be scoped correctly.")
    access_key_id, scope_date, scope_region, scope_service, _ = credential_parts
    principal = principals.get(access_key_id)
    # Long-term keys sign without a session token; temporary ones only with their own.
    if principal is None or signed.token != principal.session_token:
        raise SignatureError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    now = now or dt.datetime.now(dt.UTC)
    if principal.expires_at is not None and now >= principal.expires_at:
        raise SignatureError("ExpiredTokenException", "The security token included in the request is expired")
    _check_time(signed, now)
    if scope_date != signed.amz_date[:8] or scope_region != region or scope_service != service:
        raise SignatureError(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region and service ('{region}', '{service}'), "
            f"and to the request date; got '{scope_date}/{scope_region}/{scope_service}'.",
        )
    signed_names = signed.signed_headers.split(";")
    if "host" not in signed_names:
        raise SignatureError("InvalidSignatureException", "'Host' must be a signed header.")
    missing = [name for name in signed_names if name not in lower]
    if missing:
        raise SignatureError("InvalidSignatureException", f"Signed header(s) missing: {', '.join(missing)}")
    if hosts is not None and lower["host"] not in hosts:
        raise SignatureError("ForbiddenException", "Forbidden")
    content_sha = lower.get("x-amz-content-sha256")
    if content_sha == UNSIGNED_PAYLOAD:  # API Gateway hashes the body it received: this cannot match
        raise SignatureError("InvalidSignatureException", _MISMATCH)
    if content_sha and content_sha != hashlib.sha256(body).hexdigest():
        raise SignatureError(
            "InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match the body."
        )

    # Rebuild the request as the client signed it: only the signed headers, its own timestamp, and for a
    # presigned URL the query as sent less X-Amz-Signature.
    if presigned:
        pairs = [pair for pair in raw_query.split("&") if pair.partition("=")[0] != "X-Amz-Signature"]
        raw_query = "&".join(pairs)
    url = f"http://{lower['host']}{raw_path}" + (f"?{raw_query}" if raw_query else "")
    request = AWSRequest(method=method, url=url, data=body, headers={n: lower[n] for n in signed_names})
    request.context["timestamp"] = signed.amz_date
    credentials = Credentials(principal.access_key_id, principal.secret_access_key, principal.session_token)
    signer = (
        SigV4QueryAuth(credentials, scope_service, scope_region, expires=signed.expires or 0)
        if presigned
        else SigV4Auth(credentials, scope_service, scope_region)
    )
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, signed.signature):
        raise SignatureError("InvalidSignatureException", _MISMATCH)
    return principal


@dataclass(frozen=True)
class _Signed:
    """The signature's parameters, from the Authorization header or a presigned URL's query."""

    credential: str
    signed_headers: str
    signature: str
    amz_date: str
    token: str | None  # X-Amz-Security-Token, if any
    expires: int | None = None  # presigned URLs only


def _from_header(lower: Mapping[str, str]) -> _Signed:
    authorization = lower.get("authorization")
    if not authorization:
        raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")
    match = _AUTH_RE.match(authorization.strip())
    if not match:
        raise SignatureError(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters "
            "of the AWS4-HMAC-SHA256 scheme.",
        )
    return _Signed(
        match["credential"],
        match["signed"],
        match["signature"],
        lower.get("x-amz-date", ""),
        lower.get("x-amz-security-token"),
    )


def _from_query(query: Mapping[str, str]) -> _Signed:
    required = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires")
    missing = [name for name in (*required, "X-Amz-SignedHeaders", "X-Amz-Signature") if not query.get(name)]
    if missing or query["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        raise SignatureError(
            "IncompleteSignatureException",
            f"AWS query-string parameters must include {', '.join(required)}, X-Amz-SignedHeaders and "
            f"X-Amz-Signature, with X-Amz-Algorithm AWS4-HMAC-SHA256; missing: {', '.join(missing) or '-'}.",
        )
    expires = query["X-Amz-Expires"]
    if not expires.isdigit() or not 0 < int(expires) <= MAX_PRESIGNED_EXPIRES:
        raise SignatureError(
            "IncompleteSignatureException",
            f"X-Amz-Expires must be between 1 and {MAX_PRESIGNED_EXPIRES} seconds, got '{expires}'.",
        )
    if not re.fullmatch(r"[0-9a-f]{64}", query["X-Amz-Signature"]):
        raise SignatureError("IncompleteSignatureException", "X-Amz-Signature must be 64 hex digits.")
    return _Signed(
        query["X-Amz-Credential"],
        query["X-Amz-SignedHeaders"],
        query["X-Amz-Signature"],
        query["X-Amz-Date"],
        query.get("X-Amz-Security-Token"),
        int(expires),
    )


def _check_time(signed: _Signed, now: dt.datetime) -> None:
    """Within five minutes of X-Amz-Date (a header), or from then until X-Amz-Expires (a presigned URL)."""
    try:
        signed_at = dt.datetime.strptime(signed.amz_date, _AMZ_DATE_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        raise SignatureError(
            "IncompleteSignatureException", "Authorization header requires existence of a valid X-Amz-Date."
        ) from None
    stamp = now.strftime(_AMZ_DATE_FORMAT)
    if signed_at - now > MAX_CLOCK_SKEW:
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature not yet current: {signed.amz_date} is still later than "
            f"{(now + MAX_CLOCK_SKEW).strftime(_AMZ_DATE_FORMAT)} ({stamp} + 5 min.)",
        )
    valid_for = MAX_CLOCK_SKEW if signed.expires is None else dt.timedelta(seconds=signed.expires)
    if now - signed_at > valid_for:
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature expired: {signed.amz_date} is now earlier than "
            f"{(now - valid_for).strftime(_AMZ_DATE_FORMAT)} ({stamp} - {_duration(valid_for)}.)",
        )


def _duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} sec"
