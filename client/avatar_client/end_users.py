"""End-user sign-in (docs/end-users.md): the stack's Cognito user pool and identity pool, turned into
temporary AWS credentials that sign the API's requests (SigV4), refreshed before they expire.

    user pool InitiateAuth (USER_PASSWORD_AUTH, over TLS; a TOTP challenge if the user enabled MFA)
      -> ID token + refresh token
    identity pool GetId(Logins={<provider>: ID token}) -> identity id (stable per user)
    identity pool GetCredentialsForIdentity -> access key, secret, session token, expiry (1 h)

`EndUserSession.credentials()` is a botocore `RefreshableCredentials`: every signed call asks it for
frozen credentials, and it fetches new ones (with a fresh ID token from the refresh token when the old
one expired) shortly before the current ones expire. What a session keeps between runs (`to_saved`) is
the pool ids, the identity id and the refresh token, never the password.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.credentials import RefreshableCredentials

# Sign in again this long before the ID token's expiry (GetCredentialsForIdentity checks the token).
TOKEN_MARGIN_SECONDS = 120
DEFAULT_LOGIN_FILE = Path("~/.config/avatar/login.json")


class SignInError(Exception):
    """The user pool refused the sign-in, or asked for something this SDK cannot answer."""


@dataclass(frozen=True)
class EndUserPool:
    """The stack outputs UserPoolId, UserPoolClientId and IdentityPoolId (and their region)."""

    region: str
    user_pool_id: str
    client_id: str
    identity_pool_id: str

    @property
    def provider(self) -> str:
        """The identity pool's login provider name of this user pool."""
        return f"cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"


@dataclass
class Tokens:
    id_token: str
    refresh_token: str
    expires_at: float  # epoch seconds of the ID token's expiry


class EndUserSession:
    """One signed-in end user. `session`: the boto3 session whose `cognito-idp` and `cognito-identity`
    clients are used (no AWS credentials needed: those operations are unsigned)."""

    def __init__(
        self,
        pool: EndUserPool,
        tokens: Tokens,
        *,
        identity_id: str | None = None,
        session: boto3.session.Session | None = None,
    ) -> None:
        self.pool = pool
        self.tokens = tokens
        self.identity_id = identity_id
        self._session = session or boto3.session.Session()
        self._idp = self._session.client("cognito-idp", region_name=pool.region)
        self._identity = self._session.client("cognito-identity", region_name=pool.region)

    @classmethod
    def sign_in(
        cls,
        pool: EndUserPool,
        username: str,
        password: str,
        *,
        mfa_code: Callable[[], str] | None = None,
        session: boto3.session.Session | None = None,
    ) -> EndUserSession:
        """Sign `username` (the e-mail address) in with `password`; `mfa_code` answers a TOTP challenge."""
        signed = cls(pool, Tokens("", "", 0.0), session=session)
        started = time.time()
        answer = signed._idp.initiate_auth(
            ClientId=pool.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
        if answer.get("ChallengeName") == "SOFTWARE_TOKEN_MFA":
            if mfa_code is None:
                raise SignInError(
                    "this user has MFA on: pass an mfa_code callable (the authenticator's code)"
                )
            answer = signed._idp.respond_to_auth_challenge(
                ClientId=pool.client_id,
                ChallengeName="SOFTWARE_TOKEN_MFA",
                Session=answer["Session"],
                ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": mfa_code()},
            )
        result = answer.get("AuthenticationResult")
        if not result:
            raise SignInError(f"the user pool asks for {answer.get('ChallengeName')!r}, which needs the app")
        signed.tokens = Tokens(result["IdToken"], result["RefreshToken"], started + result["ExpiresIn"])
        return signed

    # -- tokens and credentials ----------------------------------------------------------------------
    def _id_token(self) -> str:
        """A valid ID token: the current one, or a new one from the refresh token."""
        if time.time() < self.tokens.expires_at - TOKEN_MARGIN_SECONDS:
            return self.tokens.id_token
        started = time.time()
        result = self._idp.initiate_auth(
            ClientId=self.pool.client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": self.tokens.refresh_token},
        )["AuthenticationResult"]
        self.tokens = Tokens(
            result["IdToken"],
            result.get("RefreshToken") or self.tokens.refresh_token,
            started + result["ExpiresIn"],
        )
        return self.tokens.id_token

    def fetch_credentials(self) -> dict[str, str]:
        """New temporary credentials of the identity pool's authenticated role, in the metadata form of
        botocore's `RefreshableCredentials`."""
        logins = {self.pool.provider: self._id_token()}
        if self.identity_id is None:
            self.identity_id = self._identity.get_id(
                IdentityPoolId=self.pool.identity_pool_id, Logins=logins
            )["IdentityId"]
        answer = self._identity.get_credentials_for_identity(IdentityId=self.identity_id, Logins=logins)
        credentials = answer["Credentials"]
        expiration: dt.datetime = credentials["Expiration"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretKey"],
            "token": credentials["SessionToken"],
            "expiry_time": expiration.astimezone(dt.UTC).isoformat(),
        }

    def credentials(self) -> RefreshableCredentials:
        """Credentials that fetch themselves again before they expire (botocore's refresh windows:
        advisory 15 min, mandatory 10 min before the expiry)."""
        return RefreshableCredentials.create_from_metadata(
            metadata=self.fetch_credentials(),
            refresh_using=self.fetch_credentials,
            method="cognito-identity",
        )

    # -- what `avatar login` keeps -------------------------------------------------------------------
    def to_saved(self) -> dict[str, Any]:
        return {
            "pool": asdict(self.pool),
            "identity_id": self.identity_id,
            "refresh_token": self.tokens.refresh_token,
        }

    @classmethod
    def from_saved(
        cls, saved: dict[str, Any], session: boto3.session.Session | None = None
    ) -> EndUserSession:
        """A session from `to_saved`'s document: its first call gets an ID token from the refresh token."""
        return cls(
            EndUserPool(**saved["pool"]),
            Tokens("", str(saved["refresh_token"]), 0.0),
            identity_id=saved.get("identity_id"),
            session=session,
        )


def login_file(path: str | os.PathLike[str] | None = None) -> Path:
    """The file `avatar login` writes: `path`, else AVATAR_LOGIN_FILE, else ~/.config/avatar/login.json."""
    return Path(path or os.environ.get("AVATAR_LOGIN_FILE") or DEFAULT_LOGIN_FILE).expanduser()


def save_login(user: EndUserSession, path: Path, endpoint_url: str) -> None:
    """Write the session (refresh token included) readable by its owner only (0600, folder 0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file keeps its mode through O_TRUNC
    with os.fdopen(fd, "w") as handle:
        json.dump({**user.to_saved(), "endpoint_url": endpoint_url}, handle)


def load_login(path: Path) -> dict[str, Any] | None:
    """The saved login, or None when there is none."""
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
