"""The identity pool's stand-in (local_cloud/identity_pool.py) through boto3's own `cognito-identity`
client, with the user pool in moto: stable identities per user, ID tokens checked (signature, issuer,
audience, kind, expiry), per-identity temporary credentials that the API gateway's SigV4 check accepts
only with their session token and only until they expire. Fast: starts moto and the stand-in only."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from joserfc import jwt
from joserfc.jwk import RSAKey
from moto.utilities.utils import load_resource

from avatar_client.signing import sign_request
from avatar_contract.routes import ROUTES
from local_cloud import end_users
from local_cloud.apigateway import build_proxy_event
from local_cloud.aws import MotoAws
from local_cloud.identity_pool import LocalIdentityPool
from local_cloud.settings import load_settings
from local_cloud.sigv4 import SignatureError, verify_sigv4

REGION = "us-east-1"


def _unsigned_client(service: str, endpoint_url: str) -> Any:
    """A boto3 client that signs nothing, as an app calls the Cognito operations before sign-in."""
    return boto3.client(
        service, region_name=REGION, endpoint_url=endpoint_url, config=Config(signature_version=UNSIGNED)
    )


@dataclass
class Pools:
    aws: MotoAws
    stand_in: LocalIdentityPool
    user_pool_id: str
    client_id: str
    users: list[end_users.EndUser]

    def idp(self) -> Any:
        return _unsigned_client("cognito-idp", self.aws.endpoint_url)

    def identity(self) -> Any:
        return _unsigned_client("cognito-identity", self.stand_in.url)

    def id_token(self, user: end_users.EndUser) -> str:
        result = self.idp().initiate_auth(
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": user.email, "PASSWORD": user.password},
        )["AuthenticationResult"]
        return str(result["IdToken"])

    def logins(self, token: str) -> dict[str, str]:
        return {self.stand_in.provider: token}


@pytest.fixture(scope="module")
def pools() -> Iterator[Pools]:
    aws = MotoAws(REGION)
    aws.start()
    settings = load_settings(REGION)
    idp = aws.client("cognito-idp")
    user_pool_id, client_id = end_users.provision_user_pool(idp, settings)
    users = [end_users.add_user(idp, user_pool_id, email) for email in end_users.DEMO_USERS]
    stand_in = end_users.identity_pool(settings, aws.endpoint_url, user_pool_id, client_id)
    stand_in.start()
    try:
        yield Pools(aws, stand_in, user_pool_id, client_id, users)
    finally:
        stand_in.stop()
        aws.stop()


def _get_id(pools: Pools, token: str) -> str:
    answer = pools.identity().get_id(
        IdentityPoolId=pools.stand_in.identity_pool_id, Logins=pools.logins(token)
    )
    return str(answer["IdentityId"])


def test_the_same_user_always_gets_the_same_identity_and_others_another(pools: Pools) -> None:
    alice, bob = pools.users
    first, again = _get_id(pools, pools.id_token(alice)), _get_id(pools, pools.id_token(alice))
    assert first == again
    assert first.startswith(f"{REGION}:")
    assert _get_id(pools, pools.id_token(bob)) != first


def test_credentials_are_per_identity_and_sign_only_with_their_session_token(pools: Pools) -> None:
    alice, bob = pools.users
    issued = {}
    for user in (alice, bob):
        token = pools.id_token(user)
        identity_id = _get_id(pools, token)
        answer = pools.identity().get_credentials_for_identity(
            IdentityId=identity_id, Logins=pools.logins(token)
        )
        credentials = answer["Credentials"]
        assert answer["IdentityId"] == identity_id
        assert credentials["AccessKeyId"].startswith("ASIA") and credentials["SessionToken"]
        remaining = credentials["Expiration"] - dt.datetime.now(dt.UTC)
        assert dt.timedelta(minutes=55) < remaining <= dt.timedelta(hours=1)
        issued[identity_id] = credentials
    assert len({c["AccessKeyId"] for c in issued.values()}) == 2
    assert len({c["SecretKey"] for c in issued.values()}) == 2

    identity_id, credentials = next(iter(issued.items()))
    principal = pools.stand_in.principals[credentials["AccessKeyId"]]
    assert principal.cognito is not None and principal.cognito.identity_id == identity_id
    assert principal.arn.endswith(":assumed-role/avatar-end-users-authenticated/CognitoIdentityCredentials")

    def verify(token: str | None) -> None:
        session = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretKey"],
            aws_session_token=token,
        )
        url = "http://127.0.0.1:9/v1/models"
        headers = sign_request("GET", url, b"", {"host": "127.0.0.1:9"}, session.get_credentials(), REGION)
        verify_sigv4(
            method="GET",
            raw_path="/v1/models",
            raw_query="",
            headers=headers,
            body=b"",
            principals=pools.stand_in.principals,
            service="execute-api",
            region=REGION,
        )

    verify(credentials["SessionToken"])
    for wrong in (None, credentials["SessionToken"][:-2] + "xx"):
        with pytest.raises(SignatureError) as refused:
            verify(wrong)
        assert refused.value.error_type == "UnrecognizedClientException"


def test_one_cannot_get_credentials_for_another_users_identity(pools: Pools) -> None:
    alice, bob = pools.users
    alice_id = _get_id(pools, pools.id_token(alice))
    with pytest.raises(ClientError) as refused:
        pools.identity().get_credentials_for_identity(
            IdentityId=alice_id, Logins=pools.logins(pools.id_token(bob))
        )
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"


def _forged(pools: Pools, key: RSAKey, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": pools.stand_in.issuer,
        "aud": pools.client_id,
        "sub": "00000000-0000-0000-0000-000000000000",
        "token_use": "id",
        "iat": now,
        "exp": now + 600,
        **claims,
    }
    return jwt.encode({"alg": "RS256", "kid": "dummy"}, payload, key)


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 60},  # expired
        {"aud": "another-app-client"},
        {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"},
        {"token_use": "access"},
    ],
    ids=["expired", "other-audience", "other-issuer", "access-token"],
)
def test_tokens_of_the_wrong_kind_time_or_audience_are_refused(pools: Pools, claims: dict[str, Any]) -> None:
    moto_key = RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    assert _get_id(pools, _forged(pools, moto_key))  # the same key and claims, but valid: accepted
    with pytest.raises(ClientError) as refused:
        _get_id(pools, _forged(pools, moto_key, **claims))
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"


def test_a_token_signed_by_another_key_or_no_login_is_refused(pools: Pools) -> None:
    for logins in ({pools.stand_in.provider: _forged(pools, RSAKey.generate_key(2048))}, {}):
        with pytest.raises(ClientError) as refused:
            pools.identity().get_id(IdentityPoolId=pools.stand_in.identity_pool_id, Logins=logins)
        assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"


def test_expired_credentials_are_forgotten(pools: Pools) -> None:
    alice = pools.users[0]
    token = pools.id_token(alice)
    pools.stand_in.credential_lifetime = dt.timedelta(seconds=1)
    try:
        answer = pools.identity().get_credentials_for_identity(
            IdentityId=_get_id(pools, token), Logins=pools.logins(token)
        )
    finally:
        pools.stand_in.credential_lifetime = dt.timedelta(hours=1)
    key = answer["Credentials"]["AccessKeyId"]
    assert key in pools.stand_in.principals
    time.sleep(1.1)
    assert key not in pools.stand_in.principals


def test_the_gateway_reports_the_identity_as_api_gateway_does(pools: Pools) -> None:
    token = pools.id_token(pools.users[1])
    identity_id = _get_id(pools, token)
    answer = pools.identity().get_credentials_for_identity(IdentityId=identity_id, Logins=pools.logins(token))
    principal = pools.stand_in.principals[answer["Credentials"]["AccessKeyId"]]
    route = next(r for r in ROUTES if r.path == "/models")
    event = build_proxy_event(
        route=route, method="GET", path="/models", stage="v1", raw_query="", headers=[], body=b"",
        path_parameters={}, principal=principal, source_ip="127.0.0.1", api_id="abc", domain_name="localhost",
    )  # fmt: skip
    identity = event["requestContext"]["identity"]
    assert identity["cognitoIdentityId"] == identity_id
    assert identity["cognitoIdentityPoolId"] == pools.stand_in.identity_pool_id
    assert identity["cognitoAuthenticationType"] == "authenticated"
    provider = pools.stand_in.provider
    assert identity["cognitoAuthenticationProvider"].startswith(f"{provider},{provider}:CognitoSignIn:")
    assert identity["userArn"] == principal.arn and ":assumed-role/" in principal.arn
    assert identity["caller"] == identity["user"] == f"{pools.stand_in.role_id}:CognitoIdentityCredentials"
