"""Gradio components the app's tabs share (webui/app.py, webui/packs_tab.py)."""

from __future__ import annotations

import gradio as gr


def image_gallery(
    label: str, elem_id: str, downloads_label: str, downloads_elem_id: str
) -> tuple[gr.Gallery, gr.File]:
    """A gallery of PNG images (four columns, each with download and full-screen buttons) and, below it,
    the same images as files to download."""
    gallery = gr.Gallery(
        label=label,
        columns=4,
        height="auto",
        format="png",
        buttons=["download", "fullscreen"],
        elem_id=elem_id,
    )
    downloads = gr.File(
        label=downloads_label, file_count="multiple", interactive=False, elem_id=downloads_elem_id
    )
    return gallery, downloads
