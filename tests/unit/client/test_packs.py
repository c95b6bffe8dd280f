"""The SDK's pack calls against a fake API speaking the pack-job JSON of docs/packs.md: the request each
call sends (signed, with its idempotency key), waiting with progress until the job is finished, the
timeout, retries, cancelling, paging and downloading the finished images (withheld ones left out, an
expired presigned URL refreshed)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from avatar_client import AvatarApiError, PackTimeout
from avatar_client.packs import pack_image_name, withheld
from avatar_client.progress import PackProgressDisplay, describe_pack
from tests.fixtures.pack_api import PNG, FakePackApi
from tests.fixtures.sigv4 import ENDPOINT
from tests.unit.client.helpers import client_of

pytestmark = pytest.mark.usefixtures("no_sleep")


def test_list_packs_and_start_a_pack_by_name() -> None:
    api = FakePackApi()
    sdk = client_of(api)
    assert [pack["name"] for pack in sdk.list_packs()] == ["astronaut"]
    job = sdk.start_pack(
        "m-1", pack="astronaut", images_per_prompt=2, seed=42, webhook_url="https://h.example/x"
    )
    assert job["job_id"] == "pk-0" and job["status"] == "queued" and job["total"] == 6
    method, url, body, headers = api.calls[-1]
    assert (method, url) == ("POST", f"{ENDPOINT}/models/m-1/packs")
    assert body == {
        "pack": "astronaut",
        "images_per_prompt": 2,
        "seed": 42,
        "webhook_url": "https://h.example/x",
    }
    assert headers["Idempotency-Key"]


def test_inline_prompts_are_sent_as_given_and_exactly_one_source_is_required() -> None:
    api = FakePackApi()
    prompts = [{"prompt": "<<TOK>> as a pilot", "images": 2}]
    client_of(api).start_pack("m-1", prompts=prompts, negative_prompt="blurry", idempotency_key="k-1")
    _, _, body, headers = api.calls[-1]
    assert body == {"prompts": prompts, "negative_prompt": "blurry"} and headers["Idempotency-Key"] == "k-1"
    for wrong in ({}, {"pack": "astronaut", "prompts": prompts}):
        with pytest.raises(ValueError, match="exactly one"):
            client_of(api).start_pack("m-1", **wrong)  # type: ignore[arg-type]
    assert len(api.calls) == 1


def test_start_is_retried_with_the_same_key_and_quota_is_not() -> None:
    api = FakePackApi(errors=[(503, "service_unavailable")])
    assert client_of(api).start_pack("m-1", pack="astronaut")["job_id"] == "pk-0"
    assert len(api.calls) == 2 and len({call[3]["Idempotency-Key"] for call in api.calls}) == 1
    api = FakePackApi(errors=[(429, "quota_exceeded")])
    with pytest.raises(AvatarApiError) as refused:
        client_of(api).start_pack("m-1", pack="astronaut")
    assert refused.value.code == "quota_exceeded" and refused.value.retry_after == 1 and len(api.calls) == 1


def test_wait_for_pack_reports_every_answer_up_to_the_finished_job() -> None:
    api = FakePackApi(blocked_index=1)
    sdk = client_of(api)
    job = sdk.start_pack("m-1", pack="astronaut", images_per_prompt=2)
    seen: list[tuple[int, int, str]] = []
    final = sdk.wait_for_pack(
        "m-1", job["job_id"], on_progress=lambda j, _: seen.append((j["done"], j["total"], j["status"]))
    )
    assert [done for done, _, _ in seen] == [1, 2, 3, 4, 5, 6] and seen[-1] == (6, 6, "partial")
    assert final["status"] == "partial" and [image["index"] for image in withheld(final)] == [1]
    assert api.calls[-1][1] == f"{ENDPOINT}/models/m-1/packs/pk-0"


def test_wait_for_pack_waits_out_retryable_errors_and_raises_others() -> None:
    api = FakePackApi()
    sdk = client_of(api)
    job_id = sdk.start_pack("m-1", pack="astronaut")["job_id"]
    api.errors = [(503, "service_unavailable"), (504, "timeout")]
    assert sdk.wait_for_pack("m-1", job_id)["status"] == "succeeded"
    with pytest.raises(AvatarApiError, match="job_not_found"):
        sdk.wait_for_pack("m-1", "pk-missing")


def test_wait_for_pack_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakePackApi()
    sdk = client_of(api)
    job_id = sdk.start_pack("m-1", pack="astronaut", images_per_prompt=16)["job_id"]
    clock = iter(range(0, 10_000, 10))
    monkeypatch.setattr("avatar_client.packs.time.monotonic", lambda: float(next(clock)))
    with pytest.raises(PackTimeout, match="pk-0 not finished after 30 s"):
        sdk.wait_for_pack("m-1", job_id, timeout=30, poll=10)


def test_cancel_and_cancelling_a_finished_job() -> None:
    api = FakePackApi()
    sdk = client_of(api)
    job_id = sdk.start_pack("m-1", pack="astronaut")["job_id"]
    sdk.get_pack("m-1", job_id)
    cancelled = sdk.cancel_pack("m-1", job_id)
    assert cancelled["status"] == "cancelled" and cancelled["cancelled"] == 2 and cancelled["succeeded"] == 1
    assert api.calls[-1][:3] == ("POST", f"{ENDPOINT}/models/m-1/packs/{job_id}/cancel", {})
    with pytest.raises(AvatarApiError) as refused:
        sdk.cancel_pack("m-1", job_id)
    assert refused.value.status == 409 and refused.value.code == "job_finished"


def test_list_pack_jobs_follows_every_page() -> None:
    api = FakePackApi()
    sdk = client_of(api)
    for _ in range(3):
        sdk.start_pack("m-1", pack="astronaut")
    assert [job["job_id"] for job in sdk.list_pack_jobs("m-1", page_size=1)] == ["pk-2", "pk-1", "pk-0"]
    assert parse_qs(urlsplit(api.calls[-1][1]).query) == {"limit": ["1"], "cursor": ["c1"]}


def test_download_writes_the_succeeded_images_and_refreshes_expired_urls(tmp_path: Path) -> None:
    api = FakePackApi(blocked_index=0)
    sdk = client_of(api)
    job = sdk.wait_for_pack("m-1", sdk.start_pack("m-1", pack="astronaut")["job_id"])
    api.expire()  # the URLs in `job` are stale now: S3 answers 403, the SDK asks the API for fresh ones
    paths = sdk.download_pack("m-1", job, tmp_path / "out")
    assert [p.name for p in paths] == ["pk-0-001.png", "pk-0-002.png"]
    assert all(p.read_bytes() == PNG for p in paths)
    assert pack_image_name(job, {"index": 12}) == "pk-0-012.png"
    before = len(api.calls)
    assert sdk.download_pack("m-1", job["job_id"], tmp_path / "out") == paths  # on disk: not fetched again
    assert len(api.calls) == before + 1  # only the GET of the job named by its id
    with pytest.raises(ValueError, match="blocked"):
        sdk.pack_image("m-1", job, 0)


def test_describe_pack_and_its_display() -> None:
    job = {"status": "running", "total": 16, "done": 5, "succeeded": 4, "blocked": 1, "failed": 0}
    assert describe_pack(job, 65) == "running 5/16 images (4 ready, 1 withheld) (elapsed 1m05s)"
    assert describe_pack({"status": "queued", "total": 8, "done": 0}) == "queued 0/8 images"

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    lines = io.StringIO()
    display = PackProgressDisplay("pack pk-0", lines)
    for done in (5, 5, 6):
        display({**job, "done": done}, 1)
    assert lines.getvalue().count("\n") == 2  # a line per change only
    tty = Tty()
    bar_display = PackProgressDisplay("pack pk-0", tty)
    bar_display({**job, "done": 8}, 1)
    assert "[############............] pack pk-0: running 8/16" in tty.getvalue()
    bar_display.done()
    assert tty.getvalue().endswith("\r\033[K")


def test_list_pack_jobs_follows_next_token_pages_too() -> None:
    """The pack routes page with `next_token` (sent back as `next_token`), GET /models with `next_cursor`."""
    pages = {"": {"jobs": [{"job_id": "pk-2"}], "next_token": "t1"}, "t1": {"jobs": [{"job_id": "pk-1"}]}}
    queries: list[dict[str, list[str]]] = []

    def transport(method: str, url: str, headers: dict, body: bytes | None, timeout: float):
        query = parse_qs(urlsplit(url).query)
        queries.append(query)
        return 200, {}, json.dumps(pages[query.get("next_token", [""])[0]]).encode()

    sdk = client_of(transport)
    assert [job["job_id"] for job in sdk.list_pack_jobs("m-1")] == ["pk-2", "pk-1"]
    assert queries[1] == {"limit": ["50"], "next_token": ["t1"]}
