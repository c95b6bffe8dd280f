"""Avatar packs (docs/packs.md): the catalogue, pack jobs (start, status, list, cancel), waiting with
progress and downloading the finished images. Mixed into `AvatarClient`.

A pack job renders every prompt of a pack (or inline prompts) in the background, one image at a time; its
document (`get_pack`) carries `status` (queued, running, then succeeded, partial, failed or cancelled),
the counts `total`, `done`, `succeeded`, `blocked`, `failed`, `cancelled`, and `images`: per image its
`index`, `prompt`, `status` (pending, succeeded, blocked, failed, cancelled) and, once succeeded, a
presigned `url` (valid 15 minutes; `get_pack` again for fresh ones). Blocked images (content moderation)
carry their `labels` and are never delivered.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from avatar_client.errors import AvatarApiError
from avatar_contract.pack_jobs import PackImageStatus, PackJobStatus

# A job is over once its status is one of these (`done == total`, nothing pending any more).
PACK_FINISHED = frozenset(status for status in PackJobStatus if status.final)
# (the pack job's document, as `get_pack` returns it, seconds waited so far)
PackProgressCallback = Callable[[dict[str, Any], float], None]
# The presigned URL expired (S3 answers 403) or the object is briefly not there (404 right after the
# write): ask the API for fresh URLs once and try again.
_STALE_URL_STATUSES = frozenset({403, 404})


class PackTimeout(TimeoutError):
    """The pack job did not finish within the wait time (it goes on in the background)."""


def _path(model_id: str, *rest: str) -> str:
    return "/".join([f"/models/{quote(model_id, safe='')}/packs", *(quote(part, safe="") for part in rest)])


def pack_image_name(job: dict[str, Any], image: dict[str, Any]) -> str:
    """`<job_id>-<index>.png`, the index zero-padded so that files sort in the pack's order."""
    return f"{job['job_id']}-{int(image['index']):03d}.png"


class PacksMixin:
    """The pack calls of `AvatarClient` (which provides `request` and `_unsigned`)."""

    if TYPE_CHECKING:

        def request(
            self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
        ) -> tuple[int, dict[str, Any]]: ...

        def _unsigned(
            self, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
        ) -> bytes: ...

    def list_packs(self) -> list[dict[str, Any]]:
        """The catalogue (GET /packs): curated then operator packs, each with name, family, title,
        description, prompts, `total_images` and `source`."""
        return list(self.request("GET", "/packs")[1]["packs"])

    def start_pack(
        self,
        model_id: str,
        pack: str | None = None,
        prompts: list[dict[str, Any]] | None = None,
        images_per_prompt: int | None = None,
        seed: int | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
        *,
        negative_prompt: str | None = None,
        attempts: int = 3,
    ) -> dict[str, Any]:
        """Start a pack job for `model_id` (POST /models/{id}/packs) and return it (status `queued`).

        Either `pack` (a name from `list_packs`) or `prompts` (inline: each `{"prompt": "<<TOK>> ...",
        "negative_prompt", "images", "gen_args"}`, with `negative_prompt` their default). Optional:
        `images_per_prompt` (1-16, overrides every prompt's `images`), `seed` (image i uses seed + i),
        `webhook_url` (signed HTTPS callbacks per image and at completion, docs/events.md). Sends an
        idempotency key, so retrying a retryable answer (up to `attempts` tries) never starts two jobs."""
        if (pack is None) == (prompts is None):
            raise ValueError("start_pack: give exactly one of pack= (a catalogue name) or prompts=")
        body: dict[str, Any] = {"pack": pack} if pack is not None else {"prompts": prompts}
        optional = {
            "negative_prompt": negative_prompt,
            "images_per_prompt": images_per_prompt,
            "seed": seed,
            "webhook_url": webhook_url,
        }
        body.update({name: value for name, value in optional.items() if value is not None})
        key = idempotency_key or str(uuid.uuid4())
        for attempt in range(attempts):
            try:
                return self.request("POST", _path(model_id), body, {"Idempotency-Key": key})[1]
            except Exception as error:
                if not _retryable(error) or attempt == attempts - 1:
                    raise
                time.sleep(min(getattr(error, "retry_after", None) or 2.0 * (attempt + 1), 30))
        raise AssertionError("unreachable")

    def get_pack(self, model_id: str, job_id: str) -> dict[str, Any]:
        """The job with per-image status and, for the finished images, fresh presigned URLs."""
        return self.request("GET", _path(model_id, job_id))[1]

    def list_pack_jobs(self, model_id: str, page_size: int = 50) -> list[dict[str, Any]]:
        """The caller's pack jobs of `model_id`, newest first, following every page."""
        jobs: list[dict[str, Any]] = []
        paging: dict[str, str] = {}
        while True:
            query = urlencode({"limit": page_size, **paging})
            page = self.request("GET", f"{_path(model_id)}?{query}")[1]
            jobs += page.get("jobs", [])
            # GET /models pages with `next_cursor` -> `cursor`; accept `next_token` too
            if page.get("next_cursor"):
                paging = {"cursor": page["next_cursor"]}
            elif page.get("next_token"):
                paging = {"next_token": page["next_token"]}
            else:
                return jobs

    def cancel_pack(self, model_id: str, job_id: str) -> dict[str, Any]:
        """Cancel the images not rendered yet; returns the job (`cancelled`). A job already finished
        answers 409 `job_finished` (AvatarApiError)."""
        return self.request("POST", _path(model_id, job_id, "cancel"), {})[1]

    def wait_for_pack(
        self,
        model_id: str,
        job_id: str,
        *,
        on_progress: PackProgressCallback | None = None,
        timeout: float = 3600,
        poll: float = 5,
    ) -> dict[str, Any]:
        """Poll the job every `poll` seconds until it is finished (`PACK_FINISHED`) and return it.

        `on_progress(job, seconds_waited)` is called on every answer, the last one included, so a
        display sees `done`/`total` reach the end and a gallery every image as it arrives. A retryable
        API error (429, 503, 504) is waited out. PackTimeout after `timeout` seconds."""
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            try:
                job: dict[str, Any] | None = self.get_pack(model_id, job_id)
            except Exception as error:
                if not _retryable(error):
                    raise
                job = None
            if job is not None:
                if on_progress:
                    on_progress(job, elapsed)
                if job.get("status") in PACK_FINISHED:
                    return job
            if elapsed >= timeout:
                raise PackTimeout(f"pack job {job_id} not finished after {timeout:.0f} s")
            time.sleep(max(0.01, min(poll, timeout - elapsed)))

    def pack_image(self, model_id: str, job: dict[str, Any], index: int) -> bytes:
        """The PNG bytes of a succeeded image of `job`; an expired URL is refreshed once."""
        image = next(item for item in job["images"] if item["index"] == index)
        if image.get("status") != PackImageStatus.SUCCEEDED or not image.get("url"):
            status = image.get("status")
            raise ValueError(f"image {index} of {job['job_id']} is {status}: nothing to download")
        try:
            return self._unsigned("GET", image["url"])
        except Exception as error:
            if getattr(error, "status", None) not in _STALE_URL_STATUSES:
                raise
        fresh = self.get_pack(model_id, job["job_id"])
        image = next(item for item in fresh["images"] if item["index"] == index)
        return self._unsigned("GET", image["url"])

    def download_pack(
        self,
        model_id: str,
        job: dict[str, Any] | str,
        directory: Path | str,
        *,
        skip: Iterable[int] = (),
    ) -> list[Path]:
        """Write the job's succeeded images to `directory` as `<job_id>-<index>.png` (see
        `pack_image_name`) and return their paths, in index order. `job`: the job document or its id
        (then fetched). Images already on disk, or whose index is in `skip`, are not fetched again;
        blocked, failed, cancelled and pending images are left out."""
        if isinstance(job, str):
            job = self.get_pack(model_id, job)
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        skipped = set(skip)
        paths = []
        for image in sorted(job["images"], key=lambda item: item["index"]):
            if image.get("status") != PackImageStatus.SUCCEEDED or image["index"] in skipped:
                continue
            path = out / pack_image_name(job, image)
            if not (path.exists() and path.stat().st_size):
                path.write_bytes(self.pack_image(model_id, job, image["index"]))
            paths.append(path)
        return paths


def _retryable(error: BaseException) -> bool:
    return isinstance(error, AvatarApiError) and error.retryable


def withheld(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The images content moderation blocked: index, prompt and labels (never delivered)."""
    return [image for image in job.get("images", []) if image.get("status") == PackImageStatus.BLOCKED]


__all__ = [
    "PACK_FINISHED",
    "PackProgressCallback",
    "PackTimeout",
    "PacksMixin",
    "pack_image_name",
    "withheld",
]
