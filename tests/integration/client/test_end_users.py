"""End-user sign-in of the SDK and CLI (avatar_client/end_users.py) against moto's Cognito user pool and
identity pool: password sign-in, the TOTP challenge, ID-token refresh from the refresh token, identity
credentials refreshed before they expire, and what `avatar login` keeps (mode 0600, no password, no
token printed). (moto's identity pool hands every identity the same keys: isolation between end users is
proven through the local cloud, tests/e2e/test_end_users.py.)"""

from __future__ import annotations

import datetime as dt
import io
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from avatar_client.cli import build_parser, main, make_client
from avatar_client.end_users import EndUserPool, EndUserSession, SignInError, load_login
from tests.fixtures.end_users import EMAIL, PASSWORD, REGION, moto_end_user_pool


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[EndUserPool]:
    with moto_end_user_pool(monkeypatch) as end_user_pool:
        yield end_user_pool


def test_sign_in_gives_temporary_credentials_with_a_session_token(pool: EndUserPool) -> None:
    user = EndUserSession.sign_in(pool, EMAIL, PASSWORD)
    frozen = user.credentials().get_frozen_credentials()
    assert frozen.access_key and frozen.secret_key and frozen.token
    assert user.identity_id and user.identity_id.startswith(f"{REGION}:")
    assert user.tokens.id_token.count(".") == 2 and user.tokens.refresh_token


def test_a_wrong_password_is_refused(pool: EndUserPool) -> None:
    with pytest.raises(ClientError) as refused:
        EndUserSession.sign_in(pool, EMAIL, "Wr0ng-password!")
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"


def test_a_totp_challenge_is_answered_by_the_callback(pool: EndUserPool) -> None:
    idp = boto3.client("cognito-idp", region_name=REGION)
    access_token = idp.initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": EMAIL, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]["AccessToken"]
    idp.associate_software_token(AccessToken=access_token)
    idp.verify_software_token(AccessToken=access_token, UserCode="123456")  # the authenticator's set-up
    idp.admin_set_user_mfa_preference(
        UserPoolId=pool.user_pool_id,
        Username=EMAIL,
        SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
    )
    with pytest.raises(SignInError, match="MFA"):
        EndUserSession.sign_in(pool, EMAIL, PASSWORD)
    asked: list[str] = []

    def code() -> str:
        asked.append("code")
        return "123456"

    user = EndUserSession.sign_in(pool, EMAIL, PASSWORD, mfa_code=code)
    assert asked == ["code"] and user.tokens.id_token


def test_an_expired_id_token_is_renewed_from_the_refresh_token(pool: EndUserPool) -> None:
    user = EndUserSession.sign_in(pool, EMAIL, PASSWORD)
    user.fetch_credentials()
    first = user.tokens.id_token
    user.tokens.expires_at = 0.0  # as if it expired
    user.fetch_credentials()
    assert user.tokens.id_token != first
    assert user.tokens.expires_at > dt.datetime.now(dt.UTC).timestamp() + 60


def test_credentials_are_fetched_again_before_they_expire(
    pool: EndUserPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = EndUserSession.sign_in(pool, EMAIL, PASSWORD)
    fetched: list[str] = []
    real = user.fetch_credentials

    def soon_expiring() -> dict[str, str]:
        metadata = real()
        # the first within botocore's mandatory refresh window (10 min), the next ones an hour long
        minutes = 5 if not fetched else 60
        metadata["expiry_time"] = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).isoformat()
        fetched.append(metadata["expiry_time"])
        return metadata

    monkeypatch.setattr(user, "fetch_credentials", soon_expiring)
    credentials = user.credentials()
    assert len(fetched) == 1
    credentials.get_frozen_credentials()  # a signed call: the 5-minute credentials are renewed first
    assert len(fetched) == 2
    credentials.get_frozen_credentials()  # an hour left: no new fetch
    assert len(fetched) == 2


def test_avatar_login_keeps_a_refresh_token_readable_by_its_owner_only(
    pool: EndUserPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    login_file = tmp_path / "config" / "avatar" / "login.json"
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    common = ["--endpoint", "https://api.example.com/v1", "--login-file", str(login_file)]
    status = main(
        [
            *common,
            "login",
            EMAIL,
            "--user-pool-id",
            pool.user_pool_id,
            "--client-id",
            pool.client_id,
            "--identity-pool-id",
            pool.identity_pool_id,
            "--password-stdin",
        ]
    )
    assert status == 0
    assert stat.S_IMODE(login_file.stat().st_mode) == 0o600
    saved = load_login(login_file)
    assert saved is not None
    text = json.dumps(saved)
    assert PASSWORD not in text and "id_token" not in text
    printed = capsys.readouterr()
    assert saved["refresh_token"] not in printed.out + printed.err
    assert saved["identity_id"] in printed.err

    # later commands act as that end user, with fresh identity-pool credentials
    client = make_client(build_parser().parse_args([*common, "models"]))
    frozen: Any = client._frozen_credentials()
    assert frozen.token and client.endpoint_url == "https://api.example.com/v1"

    assert main([*common, "logout"]) == 0
    assert not login_file.exists()
