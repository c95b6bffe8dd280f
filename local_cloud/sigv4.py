"""SigV4 verification for the local API Gateway (and the local SageMaker runtime).

API Gateway with `AWS_IAM` authorization recomputes the caller's signature and rejects the request with
403 before any Lambda function runs. We do the same by rebuilding the request from what arrived (method,
raw path and query, the body, and only the headers the caller says it signed) and asking botocore's own
`SigV4Auth` for the signature under the caller's X-Amz-Date, so the canonicalisation is exactly the one
every AWS SDK uses. Hand-written parts are limited to parsing the Authorization header and the checks
AWS makes around the signature (key known, scope, clock skew, payload hash), which botocore does not do
because it only signs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MAX_CLOCK_SKEW = dt.timedelta(minutes=5)
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Principal:
    """A local IAM identity: what API Gateway would report in `requestContext.identity`."""

    name: str
    access_key_id: str
    secret_access_key: str
    user_id: str  # the IAM unique id (AIDA...), reported as `caller` and `user`
    account_id: str

    @property
    def arn(self) -> str:
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
    now: dt.datetime | None = None,
) -> Principal:
    """Return the principal whose key signed this request, or raise `SignatureError`."""
    lower = {k.lower(): v for k, v in headers.items()}
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
    credential_parts = match["credential"].split("/")
    if len(credential_parts) != 5 or credential_parts[4] != "aws4_request":
        raise SignatureError("IncompleteSignatureException", "Credential should be scoped correctly.")
    access_key_id, scope_date, scope_region, scope_service, _ = credential_parts
    principal = principals.get(access_key_id)
    if principal is None:
        raise SignatureError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    if "x-amz-security-token" in lower:  # local principals are long-term keys: no session tokens
        raise SignatureError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )

    amz_date = lower.get("x-amz-date", "")
    try:
        signed_at = dt.datetime.strptime(amz_date, _AMZ_DATE_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        raise SignatureError(
            "IncompleteSignatureException", "Authorization header requires existence of a valid X-Amz-Date."
        ) from None
    now = now or dt.datetime.now(dt.UTC)
    if abs(now - signed_at) > MAX_CLOCK_SKEW:
        stamp = now.strftime(_AMZ_DATE_FORMAT)
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than "
            f"{(now - MAX_CLOCK_SKEW).strftime(_AMZ_DATE_FORMAT)} ({stamp} - 5 min.)"
            if signed_at < now
            else f"Signature not yet current: {amz_date} is still later than "
            f"{(now + MAX_CLOCK_SKEW).strftime(_AMZ_DATE_FORMAT)} ({stamp} + 5 min.)",
        )
    if scope_date != amz_date[:8] or scope_region != region or scope_service != service:
        raise SignatureError(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region and service ('{region}', '{service}'), "
            f"and to the request date; got '{scope_date}/{scope_region}/{scope_service}'.",
        )

    signed_names = match["signed"].split(";")
    if "host" not in signed_names:
        raise SignatureError("InvalidSignatureException", "'Host' must be a signed header.")
    missing = [name for name in signed_names if name not in lower]
    if missing:
        raise SignatureError("InvalidSignatureException", f"Signed header(s) missing: {', '.join(missing)}")
    content_sha = lower.get("x-amz-content-sha256")
    if content_sha and content_sha != "UNSIGNED-PAYLOAD" and content_sha != hashlib.sha256(body).hexdigest():
        raise SignatureError(
            "InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match the body."
        )

    # Rebuild the request as the client signed it: only the signed headers, its own timestamp.
    url = f"http://{lower['host']}{raw_path}" + (f"?{raw_query}" if raw_query else "")
    request = AWSRequest(method=method, url=url, data=body, headers={n: lower[n] for n in signed_names})
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(
        Credentials(principal.access_key_id, principal.secret_access_key), scope_service, scope_region
    )
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your "
            "AWS Secret Access Key and signing method. Consult the service documentation for details.",
        )
    return principal
