"""Fresh principals on a running local cloud (what each e2e module sharing the session's cloud gets): new
IAM users, the demo end users anew under their e-mail addresses, new owners, the earlier keys accepted."""

from __future__ import annotations

import configparser

import pytest

from local_cloud import LocalCloud
from tests.e2e.helpers import signed_call

pytestmark = pytest.mark.slow


def _sub(cloud: LocalCloud, email: str) -> str:
    assert cloud.end_user_pool is not None
    user = cloud.client("cognito-idp").admin_get_user(
        UserPoolId=cloud.end_user_pool.user_pool_id, Username=email
    )
    return next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")


def test_renewed_principals_are_new_owners_and_the_earlier_keys_still_work(cloud: LocalCloud) -> None:
    before, users_before = list(cloud.principals), list(cloud.end_users)
    subs_before = {user.email: _sub(cloud, user.email) for user in users_before}

    cloud.renew_principals()

    assert len(cloud.principals) == len(before) and not {p.name for p in cloud.principals} & {
        p.name for p in before
    }
    assert not {cloud.owner_id(p) for p in cloud.principals} & {cloud.owner_id(p) for p in before}
    for principal in (*before, *cloud.principals):
        assert signed_call(cloud, principal, "GET", "/models").status_code == 200
    credentials = configparser.ConfigParser()
    credentials.read(cloud.state_dir / "credentials")
    assert credentials.sections() == [p.name for p in cloud.principals]
    assert [credentials[p.name]["aws_access_key_id"] for p in cloud.principals] == [
        p.access_key_id for p in cloud.principals
    ]
    assert [u.email for u in cloud.end_users] == [u.email for u in users_before]
    for old, new in zip(users_before, cloud.end_users, strict=True):
        assert new.password != old.password and _sub(cloud, new.email) != subs_before[new.email]
    assert (cloud.state_dir / "end-users").read_text().count(cloud.end_users[0].password) == 1
