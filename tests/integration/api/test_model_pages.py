"""GET /models in pages (issue 21, L8): a cursor that is opaque and bound to its owner, each page costing
one listing and `limit` records whatever the owner's history, and the SDK following the pages."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from avatar_api.adapters.records import TrainingRecords
from avatar_api.services import get_services
from tests.fixtures.api import ALICE, BOB, owner_id, response_json
from tests.fixtures.api_backend import Api
from tests.integration.api.test_records import record

ALICES = 7


@pytest.fixture
def stored(api: Api) -> set[str]:
    """Seven models of Alice's and one of Bob's (records only: queued trainings)."""
    records: TrainingRecords = get_services().records
    alice, bob = owner_id(ALICE), owner_id(BOB)
    mine = set()
    for _ in range(ALICES):
        item = record()
        records.create(alice, item.model_copy(update={"target_model": f"{alice}/{item.model_id}"}))
        mine.add(item.model_id)
    records.create(bob, record())
    return mine


def page(api: Api, query: str = "", user: str = ALICE) -> dict[str, Any]:
    response = api.call("GET", f"/models{query}", user=user)
    assert response["statusCode"] == 200, response
    return response_json(response)


def test_pages_follow_the_cursor_to_every_model_once(api: Api, stored: set[str]) -> None:
    seen: list[str] = []
    cursor, sizes = None, []
    while True:
        body = page(api, "?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        sizes.append(len(body["models"]))
        seen += [m["model_id"] for m in body["models"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sizes == [3, 3, 1]
    assert len(seen) == len(set(seen)) and set(seen) == stored
    assert page(api)["next_cursor"] is None and len(page(api)["models"]) == ALICES  # default 20


def test_a_page_costs_one_listing_and_its_records(api: Api, stored: set[str]) -> None:
    calls: Counter[str] = Counter()
    api.s3.meta.events.register("before-call.s3.*", lambda model, **_: calls.update([model.name]))
    page(api, "?limit=2")
    assert calls["ListObjectsV2"] == 1  # not one per page of the owner's history
    assert calls["GetObject"] + calls["HeadObject"] <= 2 * 4  # a record and at most 3 outcome reads each


def test_a_cursor_is_bound_to_its_owner_and_cannot_be_forged(api: Api, stored: set[str]) -> None:
    cursor = page(api, "?limit=2")["next_cursor"]
    bobs = api.call("GET", f"/models?cursor={cursor}", user=BOB)
    assert bobs["statusCode"] == 400 and "cursor" in response_json(bobs)["error"]["message"]
    for forged in (cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB"), "dC0xMjM", "x" * 300):
        assert api.call("GET", f"/models?cursor={forged}")["statusCode"] == 400


@pytest.mark.parametrize("limit", ["0", "51", "many"])
def test_the_page_size_is_bounded(api: Api, limit: str) -> None:
    response = api.call("GET", f"/models?limit={limit}")
    assert response["statusCode"] == 400 and "limit" in response_json(response)["error"]["message"]
