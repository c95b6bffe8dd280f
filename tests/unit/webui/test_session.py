"""Sign-in targets: the local cloud's principals and user pool from its state, a deployed stack's profiles
with the default chain and its pool from the command line, and the end-user sign-in against moto's
Cognito (readable refusals, the TOTP code, the client kept server-side)."""

from __future__ import annotations

import configparser
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from avatar_client.end_users import EndUserPool, SignInError
from tests.fixtures.end_users import EMAIL, PASSWORD, REGION, moto_end_user_pool
from webui.__main__ import build_parser, target_from
from webui.session import DEFAULT_CHAIN, SignedIn, Target, client_for, sign_in_end_user


def _local_cloud_state(tmp_path: Path) -> Path:
    credentials = configparser.ConfigParser()
    for name in ("avatar-local-user-1", "avatar-local-user-2"):
        credentials[name] = {
            "aws_access_key_id": f"AKIA{name[-1]}",
            "aws_secret_access_key": "s",
            "region": "us-east-1",
        }
    with (tmp_path / "credentials").open("w") as handle:
        credentials.write(handle)
    state = {
        "api_url": "http://127.0.0.1:1/v1",
        "region": "us-east-1",
        "credentials_file": str(tmp_path / "credentials"),
        "profiles": ["avatar-local-user-1", "avatar-local-user-2"],
        "end_users": {  # LocalCloud.end_user_env()
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": "http://127.0.0.1:2",
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY": "http://127.0.0.1:3",
            "AVATAR_USER_POOL_ID": "us-east-1_abc",
            "AVATAR_USER_POOL_CLIENT_ID": "app-client",
            "AVATAR_IDENTITY_POOL_ID": "us-east-1:pool",
        },
    }
    (tmp_path / "state.json").write_text(json.dumps(state))
    return tmp_path


def test_the_local_cloud_offers_its_principals_and_signs_as_them(tmp_path: Path) -> None:
    target = Target.local_cloud(_local_cloud_state(tmp_path))
    assert target.local and target.profiles() == ["avatar-local-user-1", "avatar-local-user-2"]
    client = client_for(target, SignedIn("principal", "avatar-local-user-2"))
    assert client.endpoint_url == "http://127.0.0.1:1/v1"
    assert client._frozen_credentials().access_key == "AKIA2"
    with pytest.raises(ValueError, match="no principal"):
        client_for(target, SignedIn("principal", "someone-else"))


def test_no_local_cloud_is_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no running local cloud"):
        Target.local_cloud(tmp_path)


def test_a_deployed_stack_offers_the_default_chain_and_the_profiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.write_text("[profile alice]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):  # the profile's region must decide
        monkeypatch.delenv(name, raising=False)
    target = Target("https://abc.execute-api.eu-west-1.amazonaws.com/prod")
    assert target.profiles() == [DEFAULT_CHAIN, "alice"]
    assert client_for(target, SignedIn("profile", "alice")).region == "eu-west-1"


def test_the_local_cloud_has_a_user_pool_reached_at_its_stand_ins(tmp_path: Path) -> None:
    target = Target.local_cloud(_local_cloud_state(tmp_path))
    assert target.end_user_pool == EndUserPool("us-east-1", "us-east-1_abc", "app-client", "us-east-1:pool")
    session = target.cognito_session()
    assert session.client("cognito-idp", region_name=REGION).meta.endpoint_url == "http://127.0.0.1:2"
    assert session.client("cognito-identity", region_name=REGION).meta.endpoint_url == "http://127.0.0.1:3"
    assert "127.0.0.1" not in session.client("s3", region_name=REGION).meta.endpoint_url


def _target_of(*argv: str) -> Target:
    parser = build_parser()
    return target_from(parser, parser.parse_args(argv))


def test_a_deployed_stack_takes_its_pool_from_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AVATAR_USER_POOL_ID", "AVATAR_USER_POOL_CLIENT_ID", "AVATAR_IDENTITY_POOL_ID"):
        monkeypatch.delenv(name, raising=False)
    ids = [
        "--user-pool-id",
        "eu-west-1_xyz",
        "--user-pool-client-id",
        "c",
        "--identity-pool-id",
        "eu-west-1:i",
    ]
    target = _target_of("--api-url", "https://x.example/prod", *ids)
    assert target.end_user_pool == EndUserPool("eu-west-1", "eu-west-1_xyz", "c", "eu-west-1:i")
    assert _target_of("--api-url", "https://x.example/prod").end_user_pool is None  # no end-user sign-in
    with pytest.raises(SystemExit):
        _target_of("--api-url", "https://x.example/prod", *ids[:2])  # one id alone is a usage error


@pytest.fixture
def pool_target(monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    """A deployed-stack target whose user pool and identity pool are moto's (AWS's endpoints)."""
    with moto_end_user_pool(monkeypatch) as pool:
        yield Target("https://x.example/prod", REGION, end_user_pool=pool)


def test_an_end_user_signs_in_and_their_client_stays_with_the_session(pool_target: Target) -> None:
    who = sign_in_end_user(pool_target, f" {EMAIL} ", PASSWORD)
    assert (who.kind, who.name) == ("end_user", EMAIL)
    assert "end user **carol@example.com**" in who.describe(pool_target)
    client = client_for(pool_target, who)
    assert client is who.client and client.endpoint_url == "https://x.example/prod"
    assert client._frozen_credentials().token  # the identity pool's temporary credentials
    assert PASSWORD not in repr(who)


def test_a_wrong_password_is_a_readable_refusal(pool_target: Target) -> None:
    with pytest.raises(SignInError, match=r"^Sign-in refused: Incorrect username or password"):
        sign_in_end_user(pool_target, EMAIL, "Wr0ng-password!")
    with pytest.raises(SignInError, match="Enter your e-mail address and password"):
        sign_in_end_user(pool_target, EMAIL, "")
    with pytest.raises(SignInError, match="no user pool"):
        sign_in_end_user(Target("https://x.example/prod"), EMAIL, PASSWORD)


def test_a_user_with_mfa_is_asked_for_the_authenticator_code(pool_target: Target) -> None:
    assert pool_target.end_user_pool is not None
    idp = boto3.client("cognito-idp", region_name=REGION)
    access_token = idp.initiate_auth(
        ClientId=pool_target.end_user_pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": EMAIL, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]["AccessToken"]
    idp.associate_software_token(AccessToken=access_token)
    idp.verify_software_token(AccessToken=access_token, UserCode="123456")
    idp.admin_set_user_mfa_preference(
        UserPoolId=pool_target.end_user_pool.user_pool_id,
        Username=EMAIL,
        SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
    )
    with pytest.raises(SignInError, match="enter the code from your authenticator app"):
        sign_in_end_user(pool_target, EMAIL, PASSWORD)
    assert sign_in_end_user(pool_target, EMAIL, PASSWORD, " 123456 ").client is not None
