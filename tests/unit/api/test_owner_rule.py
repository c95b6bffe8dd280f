"""The owner rule (docs/api.md, Owners) on the request contexts API Gateway sends for each caller type."""

from __future__ import annotations

from typing import Any

import pytest

from avatar_api.adapters.owner_ids import OwnerIds
from avatar_api.errors import Forbidden
from avatar_api.routers.identity import principal_of
from avatar_contract.names import Env
from tests.fixtures.api import ACCOUNT, IDENTITY_POOL_ID, OWNER_KEY, owner_id, rest_event

COGNITO_ROLE = f"arn:aws:sts::{ACCOUNT}:assumed-role/avatar-end-users/CognitoIdentityCredentials"
END_USER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/avatar-end-users"


@pytest.fixture(autouse=True)
def this_stacks_end_users(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the stack tells the functions (stacks/end_users.py `EndUsers.tell`)."""
    monkeypatch.setenv(Env.IDENTITY_POOL_ID, IDENTITY_POOL_ID)
    monkeypatch.setenv(Env.END_USER_ROLE_ARN, END_USER_ROLE_ARN)


def _identity(**fields: Any) -> dict[str, Any]:
    """`requestContext.identity` with every key API Gateway sends (unset ones are null)."""
    keys = (
        "cognitoIdentityPoolId accountId cognitoIdentityId caller sourceIp principalOrgId accessKey "
        "cognitoAuthenticationType cognitoAuthenticationProvider userArn userAgent user"
    ).split()
    return {"identity": {key: fields.get(key) for key in keys}}


IAM_USER = _identity(
    accountId=ACCOUNT, caller="AIDAEXAMPLEALICE", user="AIDAEXAMPLEALICE", accessKey="AKIAEXAMPLE",
    userArn=f"arn:aws:iam::{ACCOUNT}:user/alice",
)  # fmt: skip
ROOT = _identity(accountId=ACCOUNT, caller=ACCOUNT, user=ACCOUNT, userArn=f"arn:aws:iam::{ACCOUNT}:root")


def _role_session(session: str, role: str = "AppUsers") -> dict[str, Any]:
    caller = f"AROAEXAMPLE:{session}"
    arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"
    return _identity(accountId=ACCOUNT, caller=caller, user=caller, accessKey="ASIAEXAMPLE", userArn=arn)


def _cognito_user(
    identity_id: str | None, pool: str = IDENTITY_POOL_ID, kind: str = "authenticated"
) -> dict[str, Any]:
    caller = "AROAEXAMPLE:CognitoIdentityCredentials"
    return _identity(
        cognitoIdentityPoolId=pool,
        accountId=ACCOUNT,
        cognitoIdentityId=identity_id,
        caller=caller,
        user=caller,
        accessKey="ASIAEXAMPLE",
        cognitoAuthenticationType=kind,
        cognitoAuthenticationProvider="cognito-idp.us-east-1.amazonaws.com/us-east-1_Example,...",
        userArn=COGNITO_ROLE,
    )


def test_an_iam_user_is_its_arn() -> None:
    assert principal_of(IAM_USER) == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert principal_of(ROOT) == f"arn:aws:iam::{ACCOUNT}:root"


def test_a_role_session_is_its_role_so_naming_a_session_picks_no_owner() -> None:
    alice, mallory_as_alice = _role_session("alice"), _role_session("alice-from-mallory")
    assert (
        principal_of(alice)
        == principal_of(mallory_as_alice)
        == f"arn:aws:sts::{ACCOUNT}:assumed-role/AppUsers"
    )
    assert principal_of(_role_session("alice", role="OtherApp")) != principal_of(alice)


def test_a_cognito_end_user_is_its_identity_id_not_the_shared_role() -> None:
    one, two = _cognito_user("us-east-1:aaaa-1111"), _cognito_user("us-east-1:bbbb-2222")
    assert principal_of(one) == "cognito:us-east-1:aaaa-1111"
    assert principal_of(one) != principal_of(two)


def test_cognito_callers_of_another_identity_pool_are_refused() -> None:
    """Issue 21 L1: another pool whose role may invoke this API (in this or another stack) names no owner."""
    other = _cognito_user("us-east-1:aaaa-1111", pool="us-east-1:99999999-0000-0000-0000-000000000000")
    with pytest.raises(Forbidden, match="identity pool"):
        principal_of(other)


def test_unauthenticated_cognito_identities_are_refused() -> None:
    with pytest.raises(Forbidden, match="identity pool"):
        principal_of(_cognito_user("us-east-1:aaaa-1111", kind="unauthenticated"))


def test_cognito_callers_are_refused_when_no_pool_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(Env.IDENTITY_POOL_ID)  # enableEndUsers: false, or the variable lost: fail closed
    with pytest.raises(Forbidden):
        principal_of(_cognito_user("us-east-1:aaaa-1111"))


def test_the_end_user_role_without_a_cognito_identity_is_refused() -> None:
    """Without its identity id the shared role would make every end user one owner."""
    for session in ("CognitoIdentityCredentials", "any-name"):
        with pytest.raises(Forbidden, match="Cognito identity"):
            principal_of(_role_session(session, role="avatar-end-users"))
    with pytest.raises(Forbidden):
        principal_of(_cognito_user(None))  # the pool named, but no identity id
    # Another role's session named like Cognito's is refused too (it can only be a forgery of one).
    with pytest.raises(Forbidden):
        principal_of(_role_session("CognitoIdentityCredentials"))


def test_federated_user_sessions_are_refused() -> None:
    federated = _identity(accountId=ACCOUNT, userArn=f"arn:aws:sts::{ACCOUNT}:federated-user/alice")
    with pytest.raises(Forbidden, match="federated-user"):
        principal_of(federated)


@pytest.mark.parametrize("context", [None, {}, {"identity": None}, _identity()])
def test_no_iam_identity_is_forbidden(context: Any) -> None:
    with pytest.raises(Forbidden):
        principal_of(context)


def test_owner_ids_are_keyed_stable_and_distinct() -> None:
    ids = OwnerIds(OWNER_KEY)

    def of_event(event: dict[str, Any]) -> str:
        return ids.owner_of(principal_of(event.get("requestContext")))

    alice = of_event(
        rest_event("GET", "/models", resource="/models", user_arn=f"arn:aws:iam::{ACCOUNT}:user/a")
    )
    again = of_event(
        rest_event("GET", "/models", resource="/models", user_arn=f"arn:aws:iam::{ACCOUNT}:user/a")
    )
    bob = of_event(
        rest_event("GET", "/models", resource="/models", user_arn=f"arn:aws:iam::{ACCOUNT}:user/b")
    )
    assert alice == again == owner_id(f"arn:aws:iam::{ACCOUNT}:user/a") and alice != bob
    # Another deployment (another key) gives the same caller an unrelated id.
    other = OwnerIds(b"another-deployment-key-0123456789ab")
    assert other.owner_of(f"arn:aws:iam::{ACCOUNT}:user/a") != alice


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        OwnerIds(b"short").owner_of("arn:aws:iam::123456789012:user/a")
