"""Sign-in targets: the local cloud's principals from its state, a deployed stack's profiles with the
default chain, and no Cognito control while the SDK has no `for_user`."""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest

from avatar_client import AvatarClient
from webui.session import DEFAULT_CHAIN, SignedIn, Target, client_for, cognito_available


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
    target = Target("https://abc.execute-api.eu-west-1.amazonaws.com/prod")
    assert target.profiles() == [DEFAULT_CHAIN, "alice"]
    assert client_for(target, SignedIn("profile", "alice")).region == "eu-west-1"


def test_cognito_sign_in_is_offered_only_when_the_sdk_has_it() -> None:
    assert cognito_available() == callable(getattr(AvatarClient, "for_user", None))
