"""The end users' sign-in in the local cloud: the user pool and its public app client in moto's
`cognito-idp` (as stacks/end_users.py declares them: e-mail sign-in, the same password policy, optional
TOTP MFA, the same auth flows and token lifetimes), demo end users with confirmed passwords, and the
identity pool's stand-in (local_cloud/identity_pool.py) that trusts that app client."""

from __future__ import annotations

import secrets
import string
import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

from local_cloud.identity_pool import LocalIdentityPool
from local_cloud.settings import ACCOUNT_ID, CloudSettings
from stacks import config_end_users as end_users

DEMO_USERS = ("alice@example.com", "bob@example.com")


class EndUser(NamedTuple):
    """A demo end user of the local cloud (valid only for this run)."""

    email: str
    password: str


@dataclass(frozen=True)
class EndUserPool:
    """What an app needs to sign its users in: the stack's outputs UserPoolId, UserPoolClientId and
    IdentityPoolId, plus (locally) where the two Cognito services answer. (Not the SDK's
    `avatar_client.end_users.EndUserPool`: the Lambda sandboxes import local_cloud without the client.)"""

    region: str
    user_pool_id: str
    client_id: str
    identity_pool_id: str
    cognito_idp_url: str  # moto
    cognito_identity_url: str  # the identity pool's stand-in

    def environment(self) -> dict[str, str]:
        """Where an end user's app signs in: the variables `avatar login` and the web app read the pool's
        ids from, and the two Cognito services' URLs (boto3 reads AWS_ENDPOINT_URL_<SERVICE>)."""
        return {
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": self.cognito_idp_url,
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY": self.cognito_identity_url,
            "AVATAR_USER_POOL_ID": self.user_pool_id,
            "AVATAR_USER_POOL_CLIENT_ID": self.client_id,
            "AVATAR_IDENTITY_POOL_ID": self.identity_pool_id,
        }


def new_password() -> str:
    """A random password that satisfies the pool's policy (every character class, 20 characters)."""
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits, "!#%+-=?@^_")
    chars = [secrets.choice(c) for c in classes] + [secrets.choice("".join(classes)) for _ in range(16)]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def provision_user_pool(cognito_idp: Any, settings: CloudSettings) -> tuple[str, str]:
    """Create the user pool and its app client; returns (user pool id, app client id)."""
    config = settings.config
    pool = cognito_idp.create_user_pool(
        PoolName=config.name(end_users.USER_POOL_SUFFIX),
        Policies={"PasswordPolicy": end_users.password_policy()},
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
        MfaConfiguration="OPTIONAL",
        AccountRecoverySetting={"RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"}]},
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
    )["UserPool"]
    cognito_idp.set_user_pool_mfa_config(
        UserPoolId=pool["Id"], SoftwareTokenMfaConfiguration={"Enabled": True}, MfaConfiguration="OPTIONAL"
    )
    client = cognito_idp.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName=config.name(end_users.APP_CLIENT_SUFFIX),
        GenerateSecret=False,
        ExplicitAuthFlows=list(end_users.AUTH_FLOWS),
        PreventUserExistenceErrors="ENABLED",
        EnableTokenRevocation=True,
        IdTokenValidity=end_users.ID_TOKEN_MINUTES,
        AccessTokenValidity=end_users.ID_TOKEN_MINUTES,
        RefreshTokenValidity=end_users.REFRESH_TOKEN_DAYS,
        TokenValidityUnits={"IdToken": "minutes", "AccessToken": "minutes", "RefreshToken": "days"},
    )["UserPoolClient"]
    return pool["Id"], client["ClientId"]


def add_user(cognito_idp: Any, user_pool_id: str, email: str) -> EndUser:
    """An end user whose e-mail is verified and whose (random) password is set: ready to sign in."""
    password = new_password()
    cognito_idp.admin_create_user(
        UserPoolId=user_pool_id,
        Username=email,
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        MessageAction="SUPPRESS",
    )
    cognito_idp.admin_set_user_password(
        UserPoolId=user_pool_id, Username=email, Password=password, Permanent=True
    )
    return EndUser(email, password)


def identity_pool(
    settings: CloudSettings, moto_url: str, user_pool_id: str, client_id: str
) -> LocalIdentityPool:
    """The identity pool's stand-in for this user pool (not started)."""
    return LocalIdentityPool(
        region=settings.region,
        account_id=ACCOUNT_ID,
        identity_pool_id=f"{settings.region}:{uuid.uuid4()}",
        user_pool_id=user_pool_id,
        app_client_id=client_id,
        jwks_url=f"{moto_url}/{user_pool_id}/.well-known/jwks.json",
        role_name=settings.config.name(end_users.AUTHENTICATED_ROLE_SUFFIX),
    )
