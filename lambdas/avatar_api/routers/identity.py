"""Who is calling: the owner rule (docs/api.md, "Owners").

API Gateway reports the SigV4 caller in `requestContext.identity`. The principal an owner id is derived
from is chosen so that no caller can pick it:

- a Cognito identity-pool caller → its identity id (the pool's role is shared by every end user), only
  from this stack's identity pool (`AVATAR_IDENTITY_POOL_ID`) and only authenticated; the end users' role
  (`AVATAR_END_USER_ROLE_ARN`) without a Cognito identity is refused, since it would make every end user
  one owner (fail closed: without the variables, no Cognito caller is accepted);
- an IAM user (or the account root) → its ARN;
- an assumed role → the role, i.e. the ARN without the session name, since whoever may assume the role
  chooses the session name (`--role-session-name alice`): all sessions of one role are one owner.

Federated-user sessions (`sts:GetFederationToken`) name themselves too and carry no parent identity, so
they are refused. The owner id is an HMAC of the principal under a per-deployment key kept in Secrets
Manager (`adapters.owner_ids.OwnerIds`), so it cannot be computed from a known ARN.
"""

from __future__ import annotations

import os
import re
from typing import Any

from avatar_api.errors import Forbidden
from avatar_contract.names import Env

# arn:<partition>:sts::<account>:assumed-role/<role name>/<session name>
_ASSUMED_ROLE = re.compile(r"^(arn:[a-z-]+:sts::\d{12}:assumed-role/[^/]+)/[^/]+$")
_FEDERATED_USER = re.compile(r"^arn:[a-z-]+:sts::\d{12}:federated-user/")
# arn:<partition>:iam::<account>:role/<name> (the end users' role has no path)
_ROLE = re.compile(r"^arn:([a-z-]+):iam::(\d{12}):role/([^/]+)$")
# The session name Cognito's enhanced flow gives every identity-pool session.
_COGNITO_SESSION = "CognitoIdentityCredentials"
_COGNITO_REFUSED = "this Cognito identity is not accepted: sign in through this stack's identity pool"


def principal_of(request_context: dict[str, Any] | None) -> str:
    """The principal the caller's owner id is derived from (the rule above); Forbidden without one."""
    identity = (request_context or {}).get("identity") or {}
    cognito_id = identity.get("cognitoIdentityId")
    if cognito_id or identity.get("cognitoIdentityPoolId"):
        return _cognito_principal(identity)
    user_arn = identity.get("userArn")
    if not user_arn:
        raise Forbidden("the request carries no IAM identity; sign it with AWS SigV4")
    if _FEDERATED_USER.match(user_arn):
        raise Forbidden(
            "federated-user sessions are not accepted (they name themselves); call with an IAM user, "
            "a role, or an end user signed in through the Cognito identity pool"
        )
    assumed = _ASSUMED_ROLE.match(user_arn)
    if assumed and (
        assumed.group(1) == _end_user_role_session() or user_arn.endswith(f"/{_COGNITO_SESSION}")
    ):
        raise Forbidden("the end users' role is accepted only with a Cognito identity of this stack's pool")
    return assumed.group(1) if assumed else user_arn


def _cognito_principal(identity: dict[str, Any]) -> str:
    """`cognito:<identity id>` for an authenticated identity of this stack's identity pool; Forbidden for
    any other pool, an unauthenticated identity, or when no pool is configured."""
    expected_pool = os.environ.get(Env.IDENTITY_POOL_ID, "")
    cognito_id = identity.get("cognitoIdentityId")
    if (
        not expected_pool
        or identity.get("cognitoIdentityPoolId") != expected_pool
        or identity.get("cognitoAuthenticationType") != "authenticated"
        or not cognito_id
    ):
        raise Forbidden(_COGNITO_REFUSED)
    return f"cognito:{cognito_id}"


def _end_user_role_session() -> str | None:
    """`arn:<partition>:sts::<account>:assumed-role/<name>` of the end users' role (None: no such role)."""
    role = _ROLE.match(os.environ.get(Env.END_USER_ROLE_ARN, ""))
    if role is None:
        return None
    partition, account, name = role.groups()
    return f"arn:{partition}:sts::{account}:assumed-role/{name}"
