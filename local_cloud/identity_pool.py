"""A local STAND-IN for an Amazon Cognito identity pool (authenticated identities only).

moto's `cognito-identity` cannot show that end users are isolated: its `GetId` returns a new random
identity on every call and `GetCredentialsForIdentity` the same fixed keys for every identity. This
stand-in speaks the Cognito Identity JSON 1.1 protocol (`X-Amz-Target:
AWSCognitoIdentityService.GetId` / `.GetCredentialsForIdentity`, unsigned, as the real operations are), so
boto3's `cognito-identity` client works against it with `endpoint_url` (or AWS_ENDPOINT_URL_COGNITO_IDENTITY):

- `GetId` verifies the user-pool ID token in `Logins` (RS256 signature against moto's JWKS, issuer = the
  user pool, audience = the app client, `token_use` id, not expired) and maps its `sub` to a stable
  identity id `<region>:<uuid>` (the same user always gets the same id; unauthenticated identities are
  refused, as the stack's identity pool refuses them).
- `GetCredentialsForIdentity` checks the ID token again (it must belong to that identity) and issues fresh
  temporary credentials for it (access key ASIA..., secret, session token, expiry): the authenticated
  role's session `CognitoIdentityCredentials`. The local API Gateway accepts them through `principals`,
  a live view of the credentials issued and not yet expired, and reports the identity in
  `requestContext.identity` as API Gateway does.

It is not Cognito: no developer-authenticated or external providers, no roles per rule, no account limits.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import string
import threading
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from local_cloud.http_server import Answer, HttpService, LocalHttpServer
from local_cloud.sigv4 import CognitoIdentity, Principal

log = logging.getLogger(__name__)
TARGET_PREFIX = "AWSCognitoIdentityService."
SESSION_NAME = "CognitoIdentityCredentials"  # the role session name Cognito uses
DEFAULT_CREDENTIAL_LIFETIME = dt.timedelta(hours=1)  # what the real GetCredentialsForIdentity issues
_KEY_ALPHABET = string.ascii_uppercase + "234567"


class IdentityPoolError(Exception):
    """An error the service answers: `error_type` is its `__type` (HTTP 400)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


class IssuedCredentials(Mapping[str, Principal]):
    """access key id -> the temporary principal it belongs to (expired ones are dropped on lookup)."""

    def __init__(self) -> None:
        self._by_key: dict[str, Principal] = {}
        self._lock = threading.Lock()

    def add(self, principal: Principal) -> None:
        with self._lock:
            self._by_key[principal.access_key_id] = principal

    def __getitem__(self, access_key_id: str) -> Principal:
        with self._lock:
            principal = self._by_key[access_key_id]
            if principal.expires_at is not None and principal.expires_at <= dt.datetime.now(dt.UTC):
                del self._by_key[access_key_id]
                raise KeyError(access_key_id)
            return principal

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._by_key))

    def __len__(self) -> int:
        return len(self._by_key)


class LocalIdentityPool(HttpService):
    """The HTTP server (`url`) of one identity pool whose only login provider is one user pool's app
    client."""

    def __init__(
        self,
        *,
        region: str,
        account_id: str,
        identity_pool_id: str,
        user_pool_id: str,
        app_client_id: str,
        jwks_url: str,
        role_name: str,
        credential_lifetime: dt.timedelta = DEFAULT_CREDENTIAL_LIFETIME,
    ) -> None:
        self.region, self.account_id = region, account_id
        self.identity_pool_id = identity_pool_id
        self.user_pool_id, self.app_client_id = user_pool_id, app_client_id
        self.provider = f"cognito-idp.{region}.amazonaws.com/{user_pool_id}"
        self.issuer = f"https://{self.provider}"
        self.jwks_url = jwks_url
        self.role_name = role_name
        self.role_id = "AROA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(17))
        self.credential_lifetime = credential_lifetime
        self.principals = IssuedCredentials()
        self._identities: dict[str, str] = {}  # user pool sub -> identity id
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._server = LocalHttpServer(
            "LocalIdentityPool",
            lambda r: self.handle(r.headers, r.body),
            lambda _: _error(500, "InternalErrorException", "internal error"),
            logging.getLogger("local_cloud.identity_pool"),
        )

    # -- the protocol --------------------------------------------------------------------------------
    def handle(self, headers: list[tuple[str, str]], body: bytes) -> Answer:
        target = next((v for k, v in headers if k.lower() == "x-amz-target"), "")
        operation = target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else ""
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError:
            return _error(400, "SerializationException", "the request body is not a JSON object")
        try:
            if operation == "GetId":
                return _ok({"IdentityId": self.get_id(request)})
            if operation == "GetCredentialsForIdentity":
                return _ok(self.get_credentials_for_identity(request))
        except IdentityPoolError as exc:
            return _error(400, exc.error_type, exc.message)
        return _error(400, "UnknownOperationException", f"operation {target!r} is not served here")

    def get_id(self, request: Mapping[str, Any]) -> str:
        if request.get("IdentityPoolId") != self.identity_pool_id:
            raise IdentityPoolError(
                "ResourceNotFoundException", f"IdentityPool '{request.get('IdentityPoolId')}' not found."
            )
        subject = self._verified_subject(request.get("Logins"))
        with self._lock:
            return self._identities.setdefault(subject, f"{self.region}:{uuid.uuid4()}")

    def get_credentials_for_identity(self, request: Mapping[str, Any]) -> dict[str, Any]:
        identity_id = request.get("IdentityId")
        subject = self._verified_subject(request.get("Logins"))
        with self._lock:
            known = self._identities.get(subject)
        if known is None or known != identity_id:
            raise IdentityPoolError("NotAuthorizedException", "Invalid login token. Not a valid identity.")
        expires_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + self.credential_lifetime
        principal = Principal(
            name=SESSION_NAME,
            access_key_id="ASIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)),
            secret_access_key=secrets.token_urlsafe(30)[:40],
            user_id=f"{self.role_id}:{SESSION_NAME}",
            account_id=self.account_id,
            session_token=secrets.token_urlsafe(96),
            expires_at=expires_at,
            cognito=CognitoIdentity(
                identity_id=identity_id,
                identity_pool_id=self.identity_pool_id,
                provider=self.provider,
                subject=subject,
                role_name=self.role_name,
                role_id=self.role_id,
            ),
        )
        self.principals.add(principal)
        return {
            "IdentityId": identity_id,
            "Credentials": {
                "AccessKeyId": principal.access_key_id,
                "SecretKey": principal.secret_access_key,
                "SessionToken": principal.session_token,
                "Expiration": expires_at.timestamp(),
            },
        }

    # -- the ID token --------------------------------------------------------------------------------
    def _verified_subject(self, logins: Any) -> str:
        """The `sub` of the user pool ID token in `logins`, once its signature and claims check out."""
        if not isinstance(logins, dict) or not logins:
            raise IdentityPoolError(
                "NotAuthorizedException", "Unauthenticated access is not supported for this identity pool."
            )
        token = logins.get(self.provider)
        if not isinstance(token, str) or set(logins) != {self.provider}:
            raise IdentityPoolError(
                "NotAuthorizedException", f"Logins must hold one token, of the provider {self.provider}."
            )
        try:
            decoded = jwt.decode(token, self._key_set(), algorithms=["RS256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.app_client_id},
                token_use={"essential": True, "value": "id"},
                sub={"essential": True},
                exp={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            log.info("refused an ID token: %s", exc)
            raise IdentityPoolError("NotAuthorizedException", "Invalid login token.") from None
        return str(decoded.claims["sub"])

    def _key_set(self) -> KeySet:
        if self._keys is None:
            with urllib.request.urlopen(self.jwks_url, timeout=10) as response:
                self._keys = KeySet.import_key_set(json.loads(response.read()))
        return self._keys


def _ok(document: dict[str, Any]) -> Answer:
    return (
        200,
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": str(uuid.uuid4())},
        (json.dumps(document).encode()),
    )


def _error(status: int, error_type: str, message: str) -> Answer:
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "x-amzn-RequestId": str(uuid.uuid4()),
        "x-amzn-ErrorType": error_type,
    }
    return status, headers, json.dumps({"__type": error_type, "message": message}).encode()
