"""What the web app's screens show: readable errors, the crop square where the API's crop is, the
progress bar with and without the API's `progress` field."""

from __future__ import annotations

import io
import urllib.error

import pytest
from PIL import Image

from avatar_client import AvatarApiError
from webui import views


def test_api_errors_read_as_a_sentence_with_code_and_message() -> None:
    error = AvatarApiError(400, "invalid_request", "prompt: String should have at least 1 character", 30)
    assert views.readable_error(error) == (
        "The service refused this (400 invalid_request): prompt: String should have at least 1 character."
        " Try again in 30 s."
    )
    assert "Traceback" not in views.readable_error(urllib.error.URLError("connection refused"))
    assert views.readable_error(urllib.error.URLError("refused")) == "Could not reach the API: refused"
    assert views.readable_error(views.NotSignedIn()) == "Sign in first (the Sign in tab)."


@pytest.mark.parametrize("angle", [0.0, 12.0, -20.0])
def test_the_crop_square_is_where_the_api_crops(angle: float) -> None:
    """Mark the drawn corners, turn the image as the service does (`angle` degrees counter-clockwise
    about the crop centre, face_analysis): the marks land on an axis-aligned square."""
    box = {"center_x": 100.0, "center_y": 90.0, "size": 80, "angle": angle}
    image = Image.new("L", (200, 200), 0)
    for x, y in views._crop_corners(box):
        image.putpixel((round(x), round(y)), 255)
    turned = image.rotate(angle, resample=Image.Resampling.NEAREST, center=(100, 90))
    marks = sorted((x, y) for x in range(200) for y in range(200) if turned.getpixel((x, y)) > 0)
    expected = sorted((100 + dx, 90 + dy) for dx in (-40, 40) for dy in (-40, 40))
    assert marks
    for x, y in marks:  # each mark is on a corner of the square, and each corner is marked
        assert any(abs(x - ex) <= 1 and abs(y - ey) <= 1 for ex, ey in expected), (x, y)
    for ex, ey in expected:
        assert any(abs(x - ex) <= 1 and abs(y - ey) <= 1 for x, y in marks), (ex, ey)


def _jpeg(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 120, 150)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_thumbnails_are_small_and_captions_say_the_verdict() -> None:
    data = _jpeg((600, 400))
    usable = {"usable": True, "crop_box": {"center_x": 300, "center_y": 200, "size": 200, "angle": 0}}
    assert max(views.thumbnail(data, usable).size) == views.THUMBNAIL_SIDE
    assert views.verdict_caption(1, usable, data) == "1: usable"
    refused = {"usable": False, "reason": "no_face", "message": "no face found"}
    assert views.verdict_caption(2, refused, data) == "2: not used — no face found"
    assert views.verdict_caption(3, None, data) == "3: 600×400 JPEG"


def test_progress_shows_steps_loss_and_eta_when_the_api_reports_them() -> None:
    status = {
        "training_id": "t-1",
        "status": "running",
        "progress": {
            "phase": "training",
            "step": 40,
            "total_steps": 800,
            "loss": 0.1234,
            "elapsed_seconds": 65,
            "eta_seconds": 1235,
            "updated": "2026-12-01T10:00:00Z",
        },
    }
    html = views.progress_html(status, 70)
    assert '<progress max="800" value="40"' in html
    assert "training: step 40/800, loss 0.1234, elapsed 1:05, ETA 20:35" in html


def test_progress_falls_back_to_the_status_alone() -> None:
    queued = views.progress_html({"training_id": "t-1", "status": "queued"}, 12)
    assert '<progress aria-label="Training progress">' in queued and "queued (waiting 12 s)" in queued
    assert 'value="1"' in views.progress_html({"training_id": "t-1", "status": "completed"}, 0)
    failed = views.progress_html({"training_id": "t-1", "status": "failed", "reason": "3 usable <8"}, 0)
    assert "failed: 3 usable &lt;8" in failed  # escaped
