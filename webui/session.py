"""Who the web app signs in as, and the SDK client for it.

Two sign-ins exist today: a principal of the local cloud (the profiles of its generated credentials file,
`.local-cloud/credentials`) and an AWS profile (boto3's shared config) for a deployed stack. A Cognito
user-pool sign-in plugs in at `cognito_client` once the SDK has `AvatarClient.for_user`; until then the UI
does not show it."""

from __future__ import annotations

import configparser
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.credentials import Credentials

from avatar_client import AvatarClient

# Against a deployed stack: boto3's default chain (environment variables, SSO, instance role) as a choice
# besides the named profiles.
DEFAULT_CHAIN = "(default credentials)"


@dataclass(frozen=True)
class Target:
    """The API the app talks to, and where its sign-in options come from."""

    api_url: str
    region: str | None = None
    credentials_file: Path | None = None  # the local cloud's principals; None: the machine's AWS profiles
    default_profile: str | None = None
    status_queue_url: str | None = None

    @property
    def local(self) -> bool:
        return self.credentials_file is not None

    @classmethod
    def local_cloud(cls, state_dir: Path) -> Target:
        """The running local cloud of `state_dir` (`python -m local_cloud up` writes state.json)."""
        path = state_dir / "state.json"
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise SystemExit(f"no running local cloud in {state_dir} ({error}); start it: make ui") from error
        return cls(
            api_url=state["api_url"],
            region=state["region"],
            credentials_file=Path(state["credentials_file"]),
            default_profile=state["profiles"][0],
        )

    def profiles(self) -> list[str]:
        """The principals (local cloud) or AWS profiles one can sign in as."""
        if self.credentials_file is not None:
            parser = configparser.ConfigParser()
            parser.read(self.credentials_file)
            return parser.sections()
        return [DEFAULT_CHAIN, *boto3.session.Session().available_profiles]


@dataclass(frozen=True)
class SignedIn:
    """What the browser session holds once signed in (no secret: the client is rebuilt from it)."""

    kind: str  # "principal" or "profile" (later: "cognito")
    name: str

    def describe(self, target: Target) -> str:
        what = "local cloud principal" if self.kind == "principal" else "AWS profile"
        return f"Signed in as {what} **{self.name}** — API {target.api_url}"


def client_for(target: Target, who: SignedIn) -> AvatarClient:
    """The SDK client acting as `who` (every call SigV4-signed with their credentials)."""
    if who.kind == "principal":
        assert target.credentials_file is not None
        parser = configparser.ConfigParser()
        parser.read(target.credentials_file)
        if not parser.has_section(who.name):
            raise ValueError(f"the local cloud has no principal {who.name!r} (was it restarted?)")
        section = parser[who.name]
        credentials = Credentials(section["aws_access_key_id"], section["aws_secret_access_key"])
        return AvatarClient(target.api_url, target.region or section.get("region"), credentials=credentials)
    profile = None if who.name == DEFAULT_CHAIN else who.name
    session = boto3.session.Session(profile_name=profile, region_name=target.region)
    return AvatarClient(target.api_url, target.region, session=session)


# ------------------------------------------------------------------ Cognito (the tenancy issue's part)
def cognito_available() -> bool:
    """True once the SDK signs in Cognito user-pool users (`AvatarClient.for_user`)."""
    return callable(getattr(AvatarClient, "for_user", None))


def cognito_client(target: Target, username: str, password: str) -> Any:
    """The client of a Cognito user-pool user: the one place that calls `AvatarClient.for_user` (align
    these arguments with its signature when it lands)."""
    for_user = getattr(AvatarClient, "for_user", None)
    if for_user is None:
        raise RuntimeError("this SDK has no Cognito sign-in (AvatarClient.for_user)")
    return for_user(target.api_url, username=username, password=password, region=target.region)
