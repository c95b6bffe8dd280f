"""The submission record's key is computed by the project (Powertools has no public call that returns it):
pinned against the record Powertools actually writes, and against a key records stored today carry."""

from __future__ import annotations

from avatar_api.services import get_services
from tests.fixtures.api_backend import STATE_TABLE, Api

# Powertools 3.x's key for owner "3f9a-owner" and Idempotency-Key "selfies-2026-01-01": records already in
# the table (and the keys stored with their trainings) carry this format.
STORED_KEY = "idempotency#trainings#1de64384e7d41cc6b8d252aee172e77cf21fed0767bd2547ec329a6b9f3b2f89"


def test_the_record_key_is_the_key_of_the_record_powertools_writes(api: Api) -> None:
    submissions = get_services().submissions

    result, replayed = submissions.once(
        "owner-a", "key-1", "fingerprint", lambda: {"ran": True}, attempt_seconds=29
    )

    assert (result, replayed) == ({"ran": True}, False)
    written = {item["pk"]["S"] for item in api.dynamodb.scan(TableName=STATE_TABLE)["Items"]}
    assert submissions.record_key("owner-a", "key-1") in written
    assert submissions.forget(submissions.record_key("owner-a", "key-1"))
    # Freed: the same key runs again.
    again = submissions.once("owner-a", "key-1", "fingerprint", lambda: {"ran": 2}, attempt_seconds=29)
    assert again == ({"ran": 2}, False)


def test_the_record_key_keeps_the_stored_format(api: Api) -> None:
    submissions = get_services().submissions
    assert submissions.record_key("3f9a-owner", "selfies-2026-01-01") == STORED_KEY
    assert submissions.record_key("owner-b", "selfies-2026-01-01") != STORED_KEY  # per owner
