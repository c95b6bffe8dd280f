"""The end users' sign-in settings (standard library only), shared by the `EndUsers` construct and the
local cloud's user pool, so both enforce the same password policy and token lifetimes (docs/end-users.md)."""

from __future__ import annotations

USER_POOL_SUFFIX = "end-users"  # physical names: <resourcePrefix>-end-users, -end-users-app, ...
APP_CLIENT_SUFFIX = "end-users-app"
IDENTITY_POOL_SUFFIX = "end-users"
AUTHENTICATED_ROLE_SUFFIX = "end-users-authenticated"

PASSWORD_MIN_LENGTH = 12
TEMPORARY_PASSWORD_DAYS = 3
ID_TOKEN_MINUTES = 30  # also the access token's
REFRESH_TOKEN_DAYS = 30
# The flows the public app client allows: SRP (what Amplify and the mobile SDKs use), password over TLS
# (what the avatar SDK uses), and refresh (always on in Cognito).
AUTH_FLOWS = ("ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH")


def password_policy() -> dict[str, int | bool]:
    """The user pool's password policy, in the Cognito API's shape (`Policies.PasswordPolicy`)."""
    return {
        "MinimumLength": PASSWORD_MIN_LENGTH,
        "RequireUppercase": True,
        "RequireLowercase": True,
        "RequireNumbers": True,
        "RequireSymbols": True,
        "TemporaryPasswordValidityDays": TEMPORARY_PASSWORD_DAYS,
    }
