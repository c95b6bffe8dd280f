"""The Packs tab (docs/webui.md): pick a ready model and a pack of the catalogue, start it, watch the
gallery fill as the images arrive, cancel, download. The work is in webui/pack_views.py; this module only
lays out the components and wires the events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from avatar_client import AvatarClient
from webui import pack_views, views
from webui.widgets import image_gallery

ClientFor = Callable[[Any], AvatarClient]  # the signed-in session's client (raises views.NotSignedIn)


def build_packs_tab(who: Any, client_for: ClientFor, out_dir: Path, poll_interval: float) -> None:
    """The tab, inside the app's `gr.Tabs()`; `who` is the app's sign-in state."""
    catalogue = gr.State([])
    running = gr.State(None)  # "model_id/job_id" of the job this browser session watches

    def load(session: Any) -> tuple[Any, Any, list[dict[str, Any]], str]:
        try:
            client = client_for(session)
            models, packs = client.list_models(), client.list_packs()
        except Exception as error:
            return gr.update(), gr.update(), [], views.readable_error(error)
        ready = pack_views.ready_models(models)
        status = f"{len(ready)} ready model(s), {len(packs)} pack(s)."
        if not ready:
            status += " Train a model first (tab 2)."
        return (
            gr.update(choices=ready, value=ready[0][1] if ready else None),
            gr.update(choices=pack_views.pack_choices(packs), value=packs[0]["name"] if packs else None),
            packs,
            status,
        )

    def start(
        session: Any, model_id: str | None, pack: str | None, per_prompt: Any, seed: Any
    ) -> Iterator[tuple]:
        try:
            client = client_for(session)
        except Exception as error:
            yield None, "", views.readable_error(error), [], []
            return
        yield from pack_views.run_pack(
            client,
            model_id,
            pack,
            int(per_prompt) if per_prompt else None,
            int(seed) if seed is not None else None,
            out_dir,
            poll_interval,
        )

    def stop(session: Any, key: str | None) -> str:
        try:
            return pack_views.cancel(client_for(session), key)
        except Exception as error:
            return views.readable_error(error)

    with gr.Tab("4. Packs", id="packs") as tab:
        gr.Markdown(
            "A **pack** is a themed set of prompts rendered in the background with your model: dozens of "
            "avatars, faces refined at full size. Images appear below as they are done."
        )
        with gr.Row():
            model = gr.Dropdown([], label="Ready model", elem_id="pack-model")
            pack = gr.Dropdown([], label="Pack", elem_id="pack-name")
        refresh = gr.Button("Refresh models and packs", elem_id="pack-refresh")
        details = gr.Markdown("", elem_id="pack-details")
        with gr.Row():
            per_prompt = gr.Number(
                0, label="Images per prompt (0: the pack's)", precision=0, minimum=0, maximum=16,
                elem_id="pack-images-per-prompt",
            )  # fmt: skip
            seed = gr.Number(-1, label="Seed (-1: random)", precision=0, minimum=-1, elem_id="pack-seed")
        with gr.Row():
            start_button = gr.Button("Start pack", variant="primary", elem_id="pack-start")
            cancel_button = gr.Button("Cancel pack", variant="stop", elem_id="pack-cancel")
        progress = gr.HTML("", elem_id="pack-progress")
        status = gr.Markdown("", elem_id="pack-status", elem_classes="status-line")
        gallery, downloads = image_gallery(
            "Pack images", "pack-gallery", "Download the delivered images", "pack-downloads"
        )

    outputs = [model, pack, catalogue, status]
    tab.select(load, [who], outputs)
    refresh.click(load, [who], outputs)
    pack.change(pack_views.pack_markdown, [catalogue, pack], [details])
    start_button.click(
        start, [who, model, pack, per_prompt, seed], [running, progress, status, gallery, downloads]
    )
    cancel_button.click(stop, [who, running], [status])
