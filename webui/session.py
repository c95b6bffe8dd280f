"""Who the web app signs in as, and the SDK client for it.

Three sign-ins: a principal of the local cloud (the profiles of its generated credentials file,
`.local-cloud/credentials`), an AWS profile (boto3's shared config) for a deployed stack, and, where the
target has a Cognito user pool, an end user with e-mail and password (`sign_in_end_user`, the SDK's
`EndUserSession`: docs/end-users.md). An end user's tokens and credentials stay in the server's
per-browser-session state (the `SignedIn` in `gr.State`); the browser never receives them."""

from __future__ import annotations

import configparser
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError

from avatar_client import AvatarClient
from avatar_client.end_users import EndUserPool, EndUserSession, SignInError

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
    end_user_pool: EndUserPool | None = None  # the stack's user pool and identity pool, if it has them
    cognito_idp_url: str | None = None  # the local cloud's stand-ins; None: AWS's own endpoints
    cognito_identity_url: str | None = None

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
        end_users = state.get("end_users") or {}  # LocalCloud.end_user_env()
        pool = None
        if end_users.get("AVATAR_USER_POOL_ID"):
            pool = EndUserPool(
                state["region"],
                end_users["AVATAR_USER_POOL_ID"],
                end_users["AVATAR_USER_POOL_CLIENT_ID"],
                end_users["AVATAR_IDENTITY_POOL_ID"],
            )
        return cls(
            api_url=state["api_url"],
            region=state["region"],
            credentials_file=Path(state["credentials_file"]),
            default_profile=state["profiles"][0],
            end_user_pool=pool,
            cognito_idp_url=end_users.get("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"),
            cognito_identity_url=end_users.get("AWS_ENDPOINT_URL_COGNITO_IDENTITY"),
        )

    def cognito_session(self) -> boto3.session.Session:
        """The boto3 session whose `cognito-idp` and `cognito-identity` clients reach this target's
        Cognito (per client, so one server can serve several targets without touching os.environ)."""
        endpoints = {"cognito-idp": self.cognito_idp_url, "cognito-identity": self.cognito_identity_url}
        return _EndpointSession({k: v for k, v in endpoints.items() if v})

    def profiles(self) -> list[str]:
        """The principals (local cloud) or AWS profiles one can sign in as."""
        if self.credentials_file is not None:
            parser = configparser.ConfigParser()
            parser.read(self.credentials_file)
            return parser.sections()
        return [DEFAULT_CHAIN, *boto3.session.Session().available_profiles]


class _EndpointSession(boto3.session.Session):
    """A boto3 session whose clients of the named services call the given endpoint URLs."""

    def __init__(self, endpoints: dict[str, str], **options: Any) -> None:
        super().__init__(**options)
        self._endpoints = endpoints

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        if service_name in self._endpoints:
            kwargs.setdefault("endpoint_url", self._endpoints[service_name])
        return super().client(service_name, *args, **kwargs)


KINDS = {"principal": "local cloud principal", "profile": "AWS profile", "end_user": "end user"}


@dataclass(frozen=True)
class SignedIn:
    """What the server keeps per browser session once signed in. A principal or a profile is a name (the
    client is rebuilt from it); an end user holds their client, whose credentials refresh themselves."""

    kind: str  # a key of KINDS
    name: str
    client: AvatarClient | None = field(default=None, repr=False, compare=False)

    def describe(self, target: Target) -> str:
        return f"Signed in as {KINDS[self.kind]} **{self.name}** — API {target.api_url}"


def client_for(target: Target, who: SignedIn) -> AvatarClient:
    """The SDK client acting as `who` (every call SigV4-signed with their credentials)."""
    if who.kind == "end_user":
        if who.client is None:
            raise ValueError("the end user's session is gone: sign in again")
        return who.client
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


# ------------------------------------------------------------------ end users (Cognito)
def sign_in_end_user(
    target: Target,
    email: str,
    password: str,
    mfa_code: str = "",
    *,
    session: boto3.session.Session | None = None,
) -> SignedIn:
    """Sign an end user in (user pool, then identity pool); a refusal is a `SignInError` whose text is
    meant for the person (wrong password, missing or wrong authenticator code, unreachable service)."""
    pool = target.end_user_pool
    if pool is None:
        raise SignInError("This stack has no user pool (start the web app with --user-pool-id ...).")
    email = email.strip()
    if not email or not password:
        raise SignInError("Enter your e-mail address and password.")

    def code() -> str:  # asked for only when the user pool answers with a TOTP challenge
        if not mfa_code.strip():
            raise SignInError("This account has MFA on: enter the code from your authenticator app.")
        return mfa_code.strip()

    try:
        user = EndUserSession.sign_in(
            pool, email, password, mfa_code=code, session=session or target.cognito_session()
        )
        client = AvatarClient.for_session(target.api_url, user)  # the identity pool's credentials
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message") or str(error)
        raise SignInError(f"Sign-in refused: {message}") from error
    except BotoCoreError as error:
        raise SignInError(f"Could not reach the sign-in service: {error}") from error
    return SignedIn("end_user", email, client=client)
