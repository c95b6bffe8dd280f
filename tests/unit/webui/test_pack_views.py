"""The Packs tab's work against the fake pack API: ready models and the catalogue as choices, the gallery
growing frame by frame as images arrive (each fetched once), a withheld image shown as a tile with its
labels and never delivered, cancelling a running pack, and errors as sentences."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from avatar_client import AvatarClient
from tests.fixtures.pack_api import FakePackApi
from tests.fixtures.sigv4 import CREDENTIALS, ENDPOINT
from webui import pack_views

PNG = io.BytesIO()
Image.new("RGB", (8, 8), (200, 10, 10)).save(PNG, format="PNG")


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakePackApi:
    monkeypatch.setattr("tests.fixtures.pack_api.PNG", PNG.getvalue())  # a real image for the gallery
    return FakePackApi(blocked_index=1)


def client(api: FakePackApi) -> AvatarClient:
    return AvatarClient(ENDPOINT, "us-east-1", credentials=CREDENTIALS, transport=api)


def test_choices_are_the_ready_models_and_the_catalogue() -> None:
    models = [
        {"model_id": "m-1", "name": "alice", "status": "completed"},
        {"model_id": "m-2", "name": None, "status": "queued"},
    ]
    assert pack_views.ready_models(models) == [("alice (m-1)", "m-1")]
    packs = [{"name": "astronaut", "title": "Astronaut", "total_images": 12}]
    assert pack_views.pack_choices(packs) == [("Astronaut — 12 images (astronaut)", "astronaut")]
    packs[0]["prompts"] = [{"prompt": "<<TOK>> in space", "images": 4, "gen_args": {"face_detail": {}}}]
    assert "- 4 × `<<TOK>> in space` (face_detail)" in pack_views.pack_markdown(packs, "astronaut")
    assert pack_views.pack_markdown(packs, None) == "Choose a pack."


def test_the_gallery_fills_as_images_arrive_and_withheld_ones_are_tiles(
    api: FakePackApi, tmp_path: Path
) -> None:
    frames = list(
        pack_views.run_pack(client(api), "m-1", "astronaut", 2, 9, tmp_path, 0, sleep=lambda _: None)
    )
    key = frames[0][0]
    assert key == "m-1/pk-0" and api.calls[0][2] == {"pack": "astronaut", "images_per_prompt": 2, "seed": 9}
    sizes = [len(gallery) for _, _, _, gallery, _ in frames]
    assert sizes == [0, 1, 2, 3, 4, 5, 6]  # one more image per poll, the last frame the finished job
    _, progress, status, gallery, downloads = frames[-1]
    assert 'value="6"' in progress and 'data-status="partial"' in progress
    assert status == "Pack partial: 5 of 6 image(s) delivered, 1 withheld by content moderation."
    assert gallery[1][1] == "2: withheld by content moderation (Violence)"
    assert gallery[1][0].getpixel((0, 0)) == (96, 96, 96)  # the tile, not the image
    assert gallery[0][0].getpixel((0, 0)) == (200, 10, 10)
    assert [Path(p).name for p in downloads] == [f"pk-0-00{i}.png" for i in (0, 2, 3, 4, 5)]
    image_gets = [url for method, url, _, _ in api.calls if method == "GET" and "/packs/pk-0" in url]
    assert len(image_gets) == 6  # the job polled; each image fetched from storage once (not via the API)


def test_cancelling_a_running_pack_ends_the_run(api: FakePackApi, tmp_path: Path) -> None:
    sdk = client(api)
    run = pack_views.run_pack(sdk, "m-1", "astronaut", 4, None, tmp_path, 0, sleep=lambda _: None)
    key = next(run)[0]
    next(run)
    assert (
        pack_views.cancel(sdk, key) == "Cancelled pack pk-0: cancelled 12/12 images (1 ready, 11 cancelled)."
    )
    *_, (_, _, status, gallery, downloads) = run
    assert status == "Pack cancelled: 1 of 12 image(s) delivered, 11 cancelled." and len(gallery) == 1
    assert len(downloads) == 1
    assert pack_views.cancel(sdk, key).startswith("The service refused this (409 job_finished)")
    assert pack_views.cancel(sdk, None) == "No pack is running."


def test_missing_choices_and_refusals_are_sentences(api: FakePackApi, tmp_path: Path) -> None:
    frames = list(pack_views.run_pack(client(api), None, "astronaut", None, None, tmp_path))
    assert frames == [(None, "", "Choose a ready model and a pack first.", [], [])]
    api.errors = [(404, "pack_not_found")]
    [(key, _, status, _, _)] = list(pack_views.run_pack(client(api), "m-1", "nope", None, -1, tmp_path))
    assert key is None and status == "The service refused this (404 pack_not_found): pack_not_found."
    assert "seed" not in api.calls[-1][2]  # -1: random


def test_a_polling_error_is_shown_and_polling_goes_on(api: FakePackApi, tmp_path: Path) -> None:
    run = pack_views.run_pack(client(api), "m-1", "astronaut", None, None, tmp_path, 0, sleep=lambda _: None)
    next(run)
    api.errors = [(503, "service_unavailable")]
    assert "503 service_unavailable" in next(run)[2]
    assert list(run)[-1][2].startswith("Pack partial")
