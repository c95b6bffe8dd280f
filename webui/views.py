"""What the screens show, computed without Gradio: readable errors, selfie thumbnails with their verdict
and crop, the training progress bar, the model list. Plain functions, unit-tested on their own."""

from __future__ import annotations

import html
import io
import math
import urllib.error
from typing import Any

from PIL import Image, ImageDraw, ImageOps

from avatar_client import AvatarApiError
from avatar_client.end_users import SignInError
from avatar_contract.progress import Phase
from avatar_contract.status import TrainingStatus

THUMBNAIL_SIDE = 192
FINISHED = (TrainingStatus.COMPLETED, TrainingStatus.FAILED)
# What the bar says in each running phase (the phases: avatar_contract.progress).
_PHASES: dict[Phase, str] = {
    "preparing_images": "preparing the selfies",
    "class_images": "rendering class images",
    "training": "training",
    "previews": "rendering previews",
    "publishing": "publishing the model",
}


class NotSignedIn(Exception):
    def __str__(self) -> str:
        return "Sign in first (the Sign in tab)."


def readable_error(error: BaseException) -> str:
    """One sentence for a person: the API's code and message, or what went wrong on the way; never a
    stack trace."""
    if isinstance(error, AvatarApiError):
        hint = f" Try again in {error.retry_after:.0f} s." if error.retry_after else ""
        message = error.message.rstrip(".")
        return f"The service refused this ({error.status} {error.code}): {message}.{hint}"
    if isinstance(error, NotSignedIn | SignInError):
        return str(error)
    if isinstance(error, urllib.error.URLError):
        return f"Could not reach the API: {error.reason}"
    if isinstance(error, TimeoutError):
        return "The API did not answer in time; try again."
    return f"Something went wrong: {error}"


def _crop_corners(box: dict[str, Any]) -> list[tuple[float, float]]:
    """The crop square's corners in the image: the API rotates the image `angle` degrees
    counter-clockwise about the centre and takes the square, so the square is rotated back here."""
    cx, cy, half = box["center_x"], box["center_y"], box["size"] / 2
    theta = math.radians(box["angle"])
    cos, sin = math.cos(theta), math.sin(theta)
    corners = []
    for dx, dy in ((-half, -half), (half, -half), (half, half), (-half, half)):
        # y grows downwards, so this matrix turns clockwise on screen: undoing the image's turn
        corners.append((cx + dx * cos - dy * sin, cy + dx * sin + dy * cos))
    return corners


def thumbnail(data: bytes, verdict: dict[str, Any] | None) -> Image.Image:
    """The selfie, upright, with its crop square drawn (green: used, red: not used)."""
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    if verdict and verdict.get("crop_box"):
        draw = ImageDraw.Draw(image)
        colour = (0, 160, 60) if verdict.get("usable") else (200, 30, 30)
        width = max(2, image.width // 100)
        draw.polygon(_crop_corners(verdict["crop_box"]), outline=colour, width=width)
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    return image


def verdict_caption(number: int, verdict: dict[str, Any] | None, data: bytes) -> str:
    if verdict is None:  # no screening (face_crop off): say what the image is
        with Image.open(io.BytesIO(data)) as opened:
            return f"{number}: {opened.width}×{opened.height} {opened.format}"
    if verdict.get("usable"):
        return f"{number}: usable"
    return f"{number}: not used — {verdict.get('message') or verdict.get('reason') or 'refused'}"


def screening_summary(report: dict[str, Any]) -> str:
    usable, needed = report.get("usable_images", 0), report.get("min_usable_images", 0)
    if report.get("would_train"):
        return f"{usable} of {len(report.get('images', []))} selfies are usable: ready to train."
    return f"Only {usable} usable selfies; at least {needed} are needed. Add or replace photos."


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


def progress_html(status: dict[str, Any], waited: float) -> str:
    """A labelled <progress> bar: step N/M, loss, elapsed and ETA when the API reports `progress`, else
    the status alone (an indeterminate bar while it runs)."""
    state = str(status.get("status", "unknown"))
    progress = status.get("progress") if isinstance(status.get("progress"), dict) else None
    if state == TrainingStatus.COMPLETED:
        bar, text = '<progress max="1" value="1" aria-label="Training progress"></progress>', "completed"
    elif state == TrainingStatus.FAILED:
        bar = '<progress max="1" value="0" aria-label="Training progress"></progress>'
        text = f"failed: {status.get('reason') or 'no reason given'}"
    elif progress and progress.get("total_steps"):
        step, total = int(progress.get("step") or 0), int(progress["total_steps"])
        bar = f'<progress max="{total}" value="{step}" aria-label="Training progress"></progress>'
        phase = _PHASES.get(progress.get("phase"), str(progress.get("phase") or state))
        loss = progress.get("loss")
        parts = [f"{phase}: step {step}/{total}"]
        if loss is not None:
            parts.append(f"loss {float(loss):.4f}")
        parts.append(f"elapsed {_duration(progress.get('elapsed_seconds'))}")
        parts.append(f"ETA {_duration(progress.get('eta_seconds'))}")
        text = ", ".join(parts)
    else:
        bar = '<progress aria-label="Training progress"></progress>'
        text = f"{state} (waiting {_duration(waited)})"
        if progress and progress.get("queue_position") is not None:
            text += f", place in the queue: {progress['queue_position']}"
    return (
        f'<div class="training-progress" role="status" aria-live="polite">{bar}'
        f'<p data-status="{html.escape(state)}">Training {html.escape(status.get("training_id", ""))}: '
        f"{html.escape(text)}</p></div>"
    )


def model_label(model: dict[str, Any]) -> str:
    name = model.get("name") or "unnamed"
    return f"{name} ({model['model_id']}, {model.get('status', 'unknown')})"


def models_markdown(models: list[dict[str, Any]]) -> str:
    if not models:
        return "No models yet: train one first."
    rows = ["| name | model | status | created |", "|---|---|---|---|"]
    for model in models:
        name = model.get("name") or "unnamed"
        rows.append(
            f"| {name} | `{model['model_id']}` | {model.get('status', '')} | {model.get('created', '')} |"
        )
    return "\n".join(rows)
