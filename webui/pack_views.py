"""The Packs tab's work, without Gradio (webui/packs_tab.py wires it): the choices (ready models, the
catalogue), a pack's description, the run that polls a job and fills the gallery as images arrive
(withheld ones shown as a grey tile with the moderation labels, never the image), cancelling, and the
files to download. Plain functions over an `AvatarClient`, unit-tested on their own."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from avatar_client import PACK_FINISHED, AvatarClient
from avatar_client.packs import pack_image_name
from avatar_client.progress import describe_pack
from avatar_contract.pack_jobs import PackImageStatus, PackJobStatus
from avatar_contract.status import TrainingStatus
from webui.views import readable_error

TILE_SIDE = 256
READY = TrainingStatus.COMPLETED  # a model whose training completed can render packs


def ready_models(models: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(label, model id) of the models a pack can run on."""
    return [
        (f"{model.get('name') or 'unnamed'} ({model['model_id']})", model["model_id"])
        for model in models
        if model.get("status") == READY
    ]


def pack_choices(packs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(label, name) per pack of the catalogue, e.g. `Astronaut — 12 images (astronaut)`."""
    return [
        (f"{pack.get('title') or pack['name']} — {pack.get('total_images', '?')} images ({pack['name']})",
         pack["name"])
        for pack in packs
    ]  # fmt: skip


def pack_markdown(packs: list[dict[str, Any]], name: str | None) -> str:
    """The chosen pack's description and prompts (<<TOK>> is the person)."""
    pack = next((pack for pack in packs if pack["name"] == name), None)
    if pack is None:
        return "Choose a pack."
    lines = [f"**{pack.get('title') or pack['name']}**: {pack.get('description', '')}", ""]
    for prompt in pack.get("prompts", []):
        gen_args = prompt.get("gen_args") or {}
        passes = [name for name in ("hires", "face_detail") if gen_args.get(name) is not None]
        extra = f" ({', '.join(passes)})" if passes else ""
        lines.append(f"- {prompt.get('images', 1)} × `{prompt['prompt']}`{extra}")
    return "\n".join(lines)


def tile(text: str, side: int = TILE_SIDE) -> Image.Image:
    """A grey square saying why an image is not shown (withheld by moderation, failed)."""
    image = Image.new("RGB", (side, side), (96, 96, 96))
    draw = ImageDraw.Draw(image)
    y = side // 2 - 10 * len(text.split("\n"))
    for line in text.split("\n"):
        width = draw.textlength(line)
        draw.text(((side - width) / 2, y), line, fill=(240, 240, 240))
        y += 20
    return image


def caption(image: dict[str, Any]) -> str:
    number = int(image["index"]) + 1
    if image.get("status") == PackImageStatus.BLOCKED:
        labels = ", ".join(image.get("labels") or []) or "no label given"
        return f"{number}: withheld by content moderation ({labels})"
    if image.get("status") == PackImageStatus.FAILED:
        return f"{number}: failed ({image.get('error') or 'no reason given'})"
    return f"{number}: {image.get('prompt', '')}"


def progress_html(job: dict[str, Any]) -> str:
    """A labelled <progress> of the images done, with the counts in words."""
    total, done = int(job.get("total") or 0), int(job.get("done") or 0)
    state = str(job.get("status", PackJobStatus.QUEUED))
    return (
        f'<div class="training-progress" role="status" aria-live="polite">'
        f'<progress max="{max(total, 1)}" value="{done}" aria-label="Pack progress"></progress>'
        f'<p data-status="{html.escape(state)}">Pack {html.escape(str(job.get("job_id", "")))}: '
        f"{html.escape(describe_pack(job))}</p></div>"
    )


def summary(job: dict[str, Any]) -> str:
    """The status line once the job is over."""
    state = job.get("status")
    text = f"Pack {state}: {job.get('succeeded', 0)} of {job.get('total', 0)} image(s) delivered"
    if job.get("blocked"):
        text += f", {job['blocked']} withheld by content moderation"
    if job.get("failed"):
        text += f", {job['failed']} failed"
    if job.get("cancelled"):
        text += f", {job['cancelled']} cancelled"
    return text + "."


@dataclass
class PackRun:
    """One job being watched: the images fetched so far (each once) and their files."""

    client: AvatarClient
    model_id: str
    out_dir: Path
    images: dict[int, Image.Image] = field(default_factory=dict)
    files: dict[int, Path] = field(default_factory=dict)

    def update(self, job: dict[str, Any]) -> list[tuple[Image.Image, str]]:
        """Fetch the newly succeeded images; the gallery in index order (pending and cancelled ones left
        out, withheld and failed ones as tiles)."""
        gallery = []
        for image in sorted(job.get("images", []), key=lambda item: item["index"]):
            index, state = int(image["index"]), image.get("status")
            if state == PackImageStatus.SUCCEEDED:
                if index not in self.images:
                    path = self.out_dir / pack_image_name(job, image)
                    path.write_bytes(self.client.pack_image(self.model_id, job, index))
                    with Image.open(path) as opened:
                        self.images[index] = opened.convert("RGB")
                    self.files[index] = path
                gallery.append((self.images[index], caption(image)))
            elif state == PackImageStatus.BLOCKED:
                gallery.append((tile("withheld\nby content moderation"), caption(image)))
            elif state == PackImageStatus.FAILED:
                gallery.append((tile("failed"), caption(image)))
        return gallery

    def downloads(self) -> list[str]:
        return [str(self.files[index]) for index in sorted(self.files)]


# (job key "model_id/job_id" or None, progress HTML, status line, gallery, download paths)
Frame = tuple[str | None, str, str, list[tuple[Image.Image, str]], list[str]]


def run_pack(
    client: AvatarClient,
    model_id: str | None,
    pack: str | None,
    images_per_prompt: int | None,
    seed: int | None,
    out_dir: Path,
    poll_interval: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Frame]:
    """Start the pack and follow it: a frame per poll, the gallery growing as images arrive, until the
    job is finished (succeeded, partial, failed or cancelled, e.g. by `cancel`). API errors while
    polling are shown and polling goes on; an error starting it ends the run."""
    if not model_id or not pack:
        yield None, "", "Choose a ready model and a pack first.", [], []
        return
    try:
        job = client.start_pack(
            model_id,
            pack=pack,
            images_per_prompt=images_per_prompt or None,
            seed=seed if seed is not None and seed >= 0 else None,
        )
    except Exception as error:
        yield None, "", readable_error(error), [], []
        return
    key = f"{model_id}/{job['job_id']}"
    job_dir = out_dir / job["job_id"]
    job_dir.mkdir(parents=True, exist_ok=True)
    run = PackRun(client, model_id, job_dir)
    gallery: list[tuple[Image.Image, str]] = []
    note = f"Pack {job['job_id']} started: {job.get('total', '?')} images."
    while job.get("status") not in PACK_FINISHED:
        yield key, progress_html(job), note, gallery, []
        sleep(poll_interval)
        try:
            job = client.get_pack(model_id, job["job_id"])
            gallery = run.update(job)
            note = f"Rendering: {describe_pack(job)}."
        except Exception as error:  # keep polling: a blip must not lose the pack
            note = readable_error(error)
    gallery = run.update(job)
    yield key, progress_html(job), summary(job), gallery, run.downloads()


def cancel(client: AvatarClient, key: str | None) -> str:
    """Cancel the running job `key` ("model_id/job_id"); the run sees it end on its next poll."""
    if not key:
        return "No pack is running."
    model_id, job_id = key.split("/", 1)
    try:
        job = client.cancel_pack(model_id, job_id)
    except Exception as error:  # e.g. 409 job_finished: it ended in the meantime
        return readable_error(error)
    return f"Cancelled pack {job_id}: {describe_pack(job)}."
