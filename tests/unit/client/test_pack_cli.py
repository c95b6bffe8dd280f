"""`avatar pack ...` against the fake pack API: the catalogue, starting with the flags sent as the API
expects, waiting with a progress line per image and saving the delivered images, status, cancel,
download, and the exit status of a job that delivered nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avatar_client.cli import build_parser, main, run
from tests.fixtures.pack_api import PNG, FakePackApi
from tests.fixtures.sigv4 import ENDPOINT
from tests.unit.client.helpers import client_of

pytestmark = pytest.mark.usefixtures("no_sleep")


def avatar(api: FakePackApi, *argv: str) -> int:
    return run(build_parser().parse_args(list(argv)), client_of(api))


def test_pack_list_prints_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert avatar(FakePackApi(), "pack", "list") == 0
    assert capsys.readouterr().out == "astronaut  sd21-base   12 images  Astronaut (curated)\n"


def test_pack_start_sends_the_flags_and_prints_the_job(capsys: pytest.CaptureFixture[str]) -> None:
    api = FakePackApi()
    argv = ["pack", "start", "m-1", "--pack", "astronaut", "--images-per-prompt", "2", "--seed", "5"]
    assert avatar(api, *argv, "--webhook-url", "https://h.example/x", "--idempotency-key", "k") == 0
    _, url, body, headers = api.calls[-1]
    assert url == f"{ENDPOINT}/models/m-1/packs" and headers["Idempotency-Key"] == "k"
    assert body == {
        "pack": "astronaut",
        "images_per_prompt": 2,
        "seed": 5,
        "webhook_url": "https://h.example/x",
    }
    assert json.loads(capsys.readouterr().out)["job_id"] == "pk-0"


def test_pack_start_with_inline_prompts(tmp_path: Path) -> None:
    api = FakePackApi()
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"prompt": "<<TOK>> as a pilot", "images": 2}]))
    assert avatar(api, "pack", "start", "m-1", "--prompts", str(prompts), "--negative-prompt", "blurry") == 0
    assert api.calls[-1][2] == {
        "prompts": [{"prompt": "<<TOK>> as a pilot", "images": 2}],
        "negative_prompt": "blurry",
    }


def test_pack_start_needs_exactly_one_source(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["pack", "start", "m-1"], ["pack", "start", "m-1", "--pack", "a", "--prompts", "p.json"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(argv)


def test_pack_start_waits_with_progress_and_saves_the_delivered_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakePackApi(blocked_index=2)
    out = tmp_path / "pack"
    assert avatar(api, "pack", "start", "m-1", "--pack", "astronaut", "--wait", "--out", str(out)) == 0
    captured = capsys.readouterr()
    assert captured.out.split() == [str(out / "pk-0-000.png"), str(out / "pk-0-001.png")]
    assert (out / "pk-0-000.png").read_bytes() == PNG and not (out / "pk-0-002.png").exists()
    progress = [line for line in captured.err.splitlines() if line.startswith("pack pk-0: ")]
    assert [line.split()[3] for line in progress[:3]] == ["1/3", "2/3", "3/3"]
    assert "image 2 withheld by content moderation (Violence)" in captured.err


def test_pack_status_cancel_and_download(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    api = FakePackApi()
    avatar(api, "pack", "start", "m-1", "--pack", "astronaut")
    capsys.readouterr()
    assert avatar(api, "pack", "status", "m-1", "pk-0") == 0
    assert json.loads(capsys.readouterr().out)["done"] == 1
    assert avatar(api, "pack", "cancel", "m-1", "pk-0") == 0
    assert json.loads(capsys.readouterr().out)["status"] == "cancelled"
    assert avatar(api, "pack", "download", "m-1", "pk-0", "--out", str(tmp_path)) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "pk-0-000.png")]
    assert avatar(api, "pack", "jobs", "m-1") == 0
    assert [job["job_id"] for job in json.loads(capsys.readouterr().out)] == ["pk-0"]


def test_waiting_for_a_cancelled_job_exits_1_and_out_needs_wait(capsys: pytest.CaptureFixture[str]) -> None:
    api = FakePackApi()
    avatar(api, "pack", "start", "m-1", "--pack", "astronaut")
    avatar(api, "pack", "cancel", "m-1", "pk-0")
    assert avatar(api, "pack", "status", "m-1", "pk-0", "--wait") == 1
    with pytest.raises(SystemExit, match="--out needs --wait"):
        avatar(api, "pack", "status", "m-1", "pk-0", "--out", "x")


def test_an_api_error_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    api = FakePackApi(errors=[(409, "job_finished")])
    client = client_of(api)
    monkeypatch.setattr("avatar_client.cli.make_client", lambda args: client)
    assert main(["pack", "cancel", "m-1", "pk-0"]) == 2
    assert capsys.readouterr().err == "avatar: 409 job_finished: job_finished\n"
