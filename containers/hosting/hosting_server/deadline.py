"""A request's deadline and response size (docs/limits.md).

The API sends `deadline_unix` (Unix seconds: when its caller stops waiting) inside `gen_args`; it is not
a GenArgs field, so it is split off before gen_args are validated. The engine checks it before it starts
rendering (a request that waited behind another render may already be late) and after every denoising
step, and stops with DeadlineExceededError: no GPU time goes to an answer nobody reads.

Answers must fit SageMaker's 6 MB real-time response limit: JPEG batches are re-encoded at lower quality
until they fit; anything that still does not fit is refused with a clear error.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

DEADLINE_ARG = "deadline_unix"
# SageMaker's response limit (6 MB) less room for the JSON around the base64 images.
MAX_RESPONSE_BYTES = 5_800_000
JPEG_QUALITIES = (92, 80, 65, 50)


class DeadlineExceededError(RuntimeError):
    """The caller's deadline passed before the images were done."""


class ResponseTooLargeError(ValueError):
    """The encoded images cannot fit the endpoint's response limit."""


def split_deadline(
    raw: str | bytes | Mapping[str, Any] | None,
) -> tuple[str | bytes | Mapping[str, Any] | None, float | None]:
    """`gen_args` without `deadline_unix`, and the deadline (None when absent or unreadable JSON: the
    gen_args check then reports the JSON error)."""
    document: Any = raw
    if isinstance(raw, bytes | str) and raw not in ("", b""):
        try:
            document = json.loads(raw)
        except ValueError:
            return raw, None
    if not isinstance(document, Mapping) or DEADLINE_ARG not in document:
        return raw, None
    rest = {key: value for key, value in document.items() if key != DEADLINE_ARG}
    value = document[DEADLINE_ARG]
    deadline = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    return rest, deadline


def check(deadline: float | None, what: str, clock: Callable[[], float] | None = None) -> None:
    """DeadlineExceededError once `deadline` (Unix seconds) has passed; None never passes."""
    if deadline is None:
        return
    late = (clock or time.time)() - deadline
    if late > 0:
        raise DeadlineExceededError(f"deadline passed {late:.1f} s ago {what}; the caller has gone")


def step_callback(deadline: float | None, total_steps: int, clock: Callable[[], float] | None = None) -> Any:
    """A diffusers `callback_on_step_end` that stops the pipeline once `deadline` has passed."""

    def on_step_end(pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        check(deadline, f"at step {step + 1} of {total_steps}", clock)
        return callback_kwargs

    return on_step_end


def encode_within_limit(
    images: list[Any], output_format: str, limit: int = MAX_RESPONSE_BYTES
) -> list[bytes]:
    """Encoded images whose base64 total fits `limit`: JPEG steps its quality down as needed."""
    qualities = JPEG_QUALITIES if output_format != "png" else (None,)
    total = 0
    for quality in qualities:
        encoded = [_encode(image, output_format, quality) for image in images]
        total = sum(len(base64.b64encode(item)) for item in encoded)
        if total <= limit:
            return encoded
    raise ResponseTooLargeError(
        f"{len(images)} {output_format} image(s) need {total:,} bytes; the response limit is {limit:,}: "
        "ask for fewer or smaller images" + (" or output_format jpeg" if output_format == "png" else "")
    )


def _encode(image: Any, output_format: str, quality: int | None) -> bytes:
    buffer = io.BytesIO()
    if output_format == "png":
        image.save(buffer, format="PNG")
    else:
        image.convert("RGB").save(buffer, format="JPEG", quality=quality or JPEG_QUALITIES[0])
    return buffer.getvalue()
