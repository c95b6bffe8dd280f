"""The web app in a real browser (Playwright driving Debian's Chromium) against the local cloud: sign in,
upload the demo selfies, train with the fast preset, watch the progress reach the end, generate two
avatars, see them in the gallery, read an API error as a sentence, run a pack in the Packs tab (the gallery
filling as its images arrive) and cancel another, delete the model after a confirmation;
then sign in as a demo end user of the local cloud's user pool (e-mail and password) and be refused with a
wrong password.

The app runs as `python -m webui` in its own environment (.venv-webui, `make test` builds it). Screenshots
at desktop width and at 390 px go to .webui-screenshots/ (gitignored). Skipped only when Chromium is not
installed (`apt-get install chromium`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from avatar_client import PACK_FINISHED, AvatarClient
from avatar_runtime.ports import free_port
from local_cloud import LocalCloud
from local_cloud.selfies import make_selfies, to_jpeg
from tests.e2e.helpers import client_for

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[3]
WEBUI_PYTHON = REPO_ROOT / ".venv-webui" / "bin" / "python"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("AVATAR_WEBUI_SCREENSHOTS", REPO_ROOT / ".webui-screenshots"))
TRAINING_TIMEOUT_MS = 600_000
PACK_TIMEOUT_MS = 300_000


@pytest.fixture(scope="module")
def web_app(cloud: LocalCloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium): the browser test needs it")
    assert WEBUI_PYTHON.exists(), "the web app's environment is missing: make .venv-webui/.installed"
    port = free_port()
    log = (tmp_path_factory.mktemp("webui") / "webui.log").open("wb")
    command = [str(WEBUI_PYTHON), "-m", "webui", "--local-cloud", str(cloud.state_dir), "--port", str(port)]
    # This checkout's SDK, whichever checkout .venv-webui's editable install points at
    path = os.pathsep.join(filter(None, [str(REPO_ROOT / "client"), os.environ.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [*command, "--poll-interval", "1"],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": path},
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, f"the web app exited ({process.returncode}); see {log.name}"
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"the web app did not answer in 180 s; see {log.name}"
                time.sleep(1)
        yield url
    finally:
        process.terminate()
        process.wait(30)
        log.close()


@pytest.fixture(scope="module")
def page(web_app: str) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        tab.goto(web_app)
        yield tab
        browser.close()


def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _at_phone_width(page: Page, name: str) -> None:
    """At 390 px wide (a phone) the page is still readable: nothing wider than the screen."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _screenshot(page, f"{name}-390px")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_the_whole_journey_in_a_browser(page: Page, cloud: LocalCloud, tmp_path: Path) -> None:
    principal = cloud.principals[0]
    api = client_for(cloud, principal)

    # Sign in: the local cloud's first principal is preselected
    expect(page.get_by_role("combobox", name="Local cloud principal")).to_have_value(principal.name)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator("#sign-in-status")).to_contain_text(
        f"Signed in as local cloud principal {principal.name}"
    )

    # Selfies: the demo set, each with its verdict and crop from the API's dry run
    paths = []
    for n, image in enumerate(make_selfies(10), 1):
        paths.append(tmp_path / f"selfie-{n:02d}.jpg")
        paths[-1].write_bytes(to_jpeg(image))
    page.get_by_role("tab", name="2. Selfies and training").click()
    page.locator("#selfies input[type=file]").set_input_files(paths)
    expect(page.locator("#screening-status")).to_contain_text("10 of 10 selfies are usable", timeout=120_000)
    expect(page.locator("#thumbnails img")).to_have_count(10)
    expect(page.locator("#thumbnails")).to_contain_text("1: usable")
    _screenshot(page, "selfies")

    # Train with the fast preset: the advanced panel shows what the preset chose
    page.get_by_label("Model name").fill("webui")
    page.get_by_label("fast").check()
    page.get_by_text("Advanced configuration").click()
    expect(page.get_by_label("Training steps")).to_have_value("8")
    expect(page.get_by_label("Resolution (px)")).to_have_value("64")
    page.get_by_role("button", name="Start training").click()

    # Progress: the bar until the end; step N/M is asserted whenever the API reported a progress object
    # while the UI polled (a tiny training can be over between two polls)
    progress = page.locator("#training-progress")
    expect(progress.locator("p[data-status]")).to_be_visible(timeout=60_000)
    training_id = progress.inner_text().split("Training ", 1)[1].split(":", 1)[0]
    api_reports_progress, shown = False, set()
    deadline = time.monotonic() + TRAINING_TIMEOUT_MS / 1000
    while (state := progress.locator("p[data-status]").get_attribute("data-status")) not in (
        "completed",
        "failed",
    ):
        assert time.monotonic() < deadline, f"training {training_id} did not finish: {progress.inner_text()}"
        shown.add(progress.inner_text())
        api_reports_progress |= api.get_training(training_id).get("progress") is not None
        page.wait_for_timeout(500)
    assert state == "completed", progress.inner_text()
    expect(progress.locator("progress")).to_have_attribute("value", "1")
    if api_reports_progress:  # the UI showed its steps
        assert any("step " in text for text in shown), shown
    expect(page.locator("#previews img").first).to_be_visible()
    _screenshot(page, "training")

    # Generate two avatars into the gallery, with their downloads
    page.get_by_role("tab", name="3. My models and avatars").click()
    model_id = api.get_training(training_id)["model_id"]
    expect(page.get_by_role("combobox", name="Model")).to_have_value(f"webui ({model_id}, completed)")
    page.locator("#count input[type=number]").fill("2")
    page.locator("#steps input[type=number]").fill("2")  # the API's 27 s budget, on a busy 2-core machine
    page.locator("#seed input[type=number]").fill("7")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#models-status")).to_contain_text("2 image(s), seed 7", timeout=180_000)
    expect(page.locator("#gallery img")).to_have_count(2)
    expect(page.locator("#downloads a")).to_have_count(2)
    _screenshot(page, "avatars")
    _at_phone_width(page, "avatars")

    # An API error is a sentence, not a stack trace
    page.locator("#prompt textarea").fill("")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#models-status")).to_contain_text("The service refused this (400 invalid_request)")
    expect(page.locator("body")).not_to_contain_text("Traceback")

    _a_pack_fills_the_gallery_and_another_is_cancelled(page, api, model_id)

    # Delete the model, after a confirmation
    page.get_by_role("button", name="Delete this model…").click()
    expect(page.locator("#confirm-text")).to_contain_text(model_id)
    page.get_by_role("button", name="Yes, delete it").click()
    expect(page.locator("#models-status")).to_contain_text(f"Deleted model {model_id}")
    assert model_id not in [model["model_id"] for model in api.list_models()]


def _pack_job(page: Page) -> str:
    """The job id the Packs tab's progress names (`Pack pk-…: …`)."""
    expect(page.locator("#pack-progress p[data-status]")).to_be_visible(timeout=60_000)
    return page.locator("#pack-progress").inner_text().split("Pack ", 1)[1].split(":", 1)[0]


def _a_pack_fills_the_gallery_and_another_is_cancelled(page: Page, api: AvatarClient, model_id: str) -> None:
    """The Packs tab: the ready model and the catalogue's first pack preselected, one image per prompt,
    the gallery filling while the job runs (its size never shrinks) up to every finished image, the
    delivered ones to download; then a 48-image run of it cancelled from the page."""
    page.get_by_role("tab", name="4. Packs").click()
    expect(page.locator("#pack-status")).to_contain_text("ready model(s)", timeout=30_000)
    expect(page.get_by_role("combobox", name="Ready model")).to_have_value(f"webui ({model_id})")
    first_pack = api.list_packs()[0]
    expect(page.get_by_role("combobox", name="Pack")).to_have_value(re.compile(rf"\({first_pack['name']}\)$"))
    expect(page.locator("#pack-details")).to_contain_text(first_pack["title"])
    page.locator("#pack-images-per-prompt input[type=number]").fill("1")
    page.get_by_role("button", name="Start pack").click()
    job_id = _pack_job(page)
    sizes = [0]
    deadline = time.monotonic() + PACK_TIMEOUT_MS / 1000
    while page.locator("#pack-progress p[data-status]").get_attribute("data-status") not in PACK_FINISHED:
        assert time.monotonic() < deadline, (
            f"pack {job_id} did not finish: {page.locator('#pack-progress').inner_text()}"
        )
        sizes.append(page.locator("#pack-gallery img").count())
        assert sizes[-1] >= sizes[-2], sizes  # images are only ever added
        page.wait_for_timeout(300)
    job = api.get_pack(model_id, job_id)
    assert job["status"] in ("succeeded", "partial"), job
    assert job["total"] == len(first_pack["prompts"])
    shown = job["succeeded"] + job["blocked"] + job["failed"]
    expect(page.locator("#pack-gallery img")).to_have_count(shown)
    expect(page.locator("#pack-downloads a")).to_have_count(job["succeeded"])
    expect(page.locator("#pack-status")).to_contain_text(f"of {job['total']} image(s) delivered")
    _screenshot(page, "packs")
    _at_phone_width(page, "packs")

    page.locator("#pack-images-per-prompt input[type=number]").fill("16")
    page.get_by_role("button", name="Start pack").click()
    expect(page.locator("#pack-progress")).not_to_contain_text(job_id, timeout=60_000)
    cancelled_id = _pack_job(page)
    page.get_by_role("button", name="Cancel pack").click()
    expect(page.locator("#pack-status")).to_contain_text("Pack cancelled", timeout=PACK_TIMEOUT_MS)
    cancelled = api.get_pack(model_id, cancelled_id)
    assert cancelled["status"] == "cancelled" and cancelled["cancelled"] > 0, cancelled
    page.get_by_role("tab", name="3. My models and avatars").click()  # back where the journey goes on


def test_an_end_user_signs_in_with_e_mail_and_password(page: Page, web_app: str, cloud: LocalCloud) -> None:
    page.goto(web_app)  # a new browser session: nobody signed in
    email = "alice@example.com"
    password = json.loads((cloud.state_dir / "end-users").read_text())[email]
    password_field = page.get_by_label("Password", exact=True)
    expect(password_field).to_have_attribute("type", "password")
    page.get_by_label("E-mail address").fill(email)
    password_field.fill(password)
    page.get_by_role("button", name="Sign in as end user").click()
    expect(page.locator("#sign-in-status")).to_contain_text(f"Signed in as end user {email}", timeout=30_000)
    expect(password_field).to_have_value("")  # not kept in the page
    _screenshot(page, "end-user")

    # Her models: only her own (none yet), not the principal's
    page.get_by_role("tab", name="3. My models and avatars").click()
    page.get_by_role("button", name="Refresh my models").click()
    expect(page.locator("#models-status")).to_contain_text("0 model(s).")
    expect(page.locator("#models-table")).to_contain_text("No models yet")

    # A wrong password: a sentence, and signed out
    page.get_by_role("tab", name="1. Sign in").click()
    password_field.fill(password + "-wrong")
    page.get_by_role("button", name="Sign in as end user").click()
    expect(page.locator("#sign-in-status")).to_contain_text("Sign-in refused: Incorrect username or password")
    expect(page.locator("body")).not_to_contain_text("Traceback")
    page.get_by_role("tab", name="3. My models and avatars").click()
    page.get_by_role("button", name="Refresh my models").click()
    expect(page.locator("#models-status")).to_contain_text("Sign in first")
