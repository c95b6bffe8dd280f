"""The Gradio app: sign in, selfies with their verdicts, training with presets and live progress, my
models, generation into a gallery with downloads, deletion after a confirmation, avatar packs (their own
tab: webui/packs_tab.py) (docs/webui.md).

Every handler talks to the API through `avatar_client` only, and turns any error into a readable message
in the screen's status line; long calls (training, generation) run on Gradio's queue as generators, so the
page stays usable while they run."""

from __future__ import annotations

import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from avatar_client import AvatarClient, prepare_selfie
from avatar_client.client import GeneratedImages
from avatar_contract.status import TrainingStatus
from webui import views
from webui.access import upload_problem
from webui.packs_tab import build_packs_tab
from webui.presets import DEFAULT_PRESET, FAMILY, FIELDS, PRESETS, config_from_values, preset_values
from webui.session import SignedIn, Target, client_for, sign_in_end_user
from webui.widgets import image_gallery

MIN_SELFIES, MAX_SELFIES = 10, 20
PREVIEW_RETRIES = 15
SIZES = list(range(64, FAMILY.generation.max_side + 1, 64))
# Generation defaults: the local cloud's tiny random-weight model at its size and a few steps; a deployed
# stack's base family at its native size and the API's steps (avatar_contract.families).
LOCAL_GENERATION = {"steps": 4, "size": 64}
DEPLOYED_GENERATION = {"steps": FAMILY.generation.steps.default, "size": FAMILY.native_resolution}
CSS = """
.training-progress progress { width: 100%; height: 1.25rem; }
.status-line p { font-weight: 600; }
"""


def _client(target: Target, who: SignedIn | None) -> AvatarClient:
    if who is None:
        raise views.NotSignedIn
    return client_for(target, who)


def _choices(models: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(views.model_label(model), model["model_id"]) for model in models]


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # presigned S3 URL of a preview
        return response.read()


def build(target: Target, poll_interval: float = 2.0) -> gr.Blocks:
    """The app for one API; each browser session signs in on its own."""
    out_dir = Path(tempfile.mkdtemp(prefix="avatar-webui-"))

    def sign_in(profile: str | None) -> tuple[Any, str, Any]:
        if not profile:
            return None, "Choose whom to sign in as.", gr.update()
        who = SignedIn("principal" if target.local else "profile", profile)
        try:
            models = client_for(target, who).list_models()  # proves the credentials work
        except Exception as error:
            return None, views.readable_error(error), gr.update()
        return who, f"{who.describe(target)} ({len(models)} models)", gr.update(choices=_choices(models))

    def sign_in_user(email: str, password: str, code: str) -> tuple[Any, str, Any, str, str]:
        try:  # the password and code fields are emptied either way; the session stays on the server
            who = sign_in_end_user(target, email, password, code)
            models = client_for(target, who).list_models()
        except Exception as error:
            return None, views.readable_error(error), gr.update(), "", ""
        status = f"{who.describe(target)} ({len(models)} models)"
        return who, status, gr.update(choices=_choices(models), value=None), "", ""

    def check_selfies(files: list[str] | None, who: SignedIn | None) -> tuple[list[bytes], Any, str]:
        if not files:
            return [], [], "Add 10–20 selfies."
        if not MIN_SELFIES <= len(files) <= MAX_SELFIES:
            return [], [], f"{len(files)} photos: a training takes {MIN_SELFIES}–{MAX_SELFIES}."
        problem = upload_problem(files, MAX_SELFIES)  # Gradio bounds each file too (max_file_size)
        if problem:
            return [], [], problem
        try:
            prepared = [prepare_selfie(Path(path)) for path in files]
            report = _client(target, who).screen_selfies(prepared, prepare=False)
        except Exception as error:
            return [], [], views.readable_error(error)
        verdicts = {verdict["index"]: verdict for verdict in report.get("images", [])}
        gallery = [
            (views.thumbnail(data, verdicts.get(n)), views.verdict_caption(n + 1, verdicts.get(n), data))
            for n, data in enumerate(prepared)
        ]
        return prepared, gallery, views.screening_summary(report)

    def train(who: SignedIn | None, selfies: list[bytes], name: str, *values: Any) -> Iterator[tuple]:
        if not selfies:
            yield "", [], "Add 10–20 selfies above first (and wait for their check).", gr.update()
            return
        try:
            client = _client(target, who)
            accepted = client.start_training(
                selfies,
                model_name=name.strip() or None,
                config=config_from_values(list(values)),
                prepare=False,
            )
        except Exception as error:
            yield "", [], views.readable_error(error), gr.update()
            return
        started, training_id = time.monotonic(), accepted["training_id"]
        status: dict[str, Any] = {**accepted}
        while status.get("status") not in views.FINISHED:
            yield views.progress_html(status, time.monotonic() - started), [], "Training…", gr.update()
            time.sleep(poll_interval)
            try:
                status = client.get_training(training_id)
            except Exception as error:  # keep polling: a blip must not lose the training
                yield (
                    views.progress_html(status, time.monotonic() - started),
                    [],
                    views.readable_error(error),
                    gr.update(),
                )
        previews: list[Any] = []
        message = f"Training {status['status']}."
        try:
            # "completed" can come from the published artifact a moment before the endpoint's output
            # (metrics, preview URLs) is written: ask again for a little while
            for _ in range(PREVIEW_RETRIES):
                if (
                    status["status"] != TrainingStatus.COMPLETED
                    or status.get("preview_urls")
                    or status.get("previews_withheld")
                ):
                    break
                time.sleep(poll_interval)
                status = client.get_training(training_id)
            previews = [views.thumbnail(_fetch(url), None) for url in status.get("preview_urls", [])]
            models = client.list_models()
        except Exception as error:
            yield views.progress_html(status, 0), previews, views.readable_error(error), gr.update()
            return
        if status["status"] == TrainingStatus.COMPLETED:
            message += " Your model is ready in the My models tab."
            if status.get("previews_withheld"):
                message += f" {len(status['previews_withheld'])} preview(s) withheld by content moderation."
        selected = accepted["model_id"] if status["status"] == TrainingStatus.COMPLETED else None
        yield (
            views.progress_html(status, 0),
            previews,
            message,
            gr.update(choices=_choices(models), value=selected),
        )

    def refresh(who: SignedIn | None) -> tuple[Any, str, str]:
        try:
            models = _client(target, who).list_models()
        except Exception as error:
            return gr.update(), "", views.readable_error(error)
        return gr.update(choices=_choices(models)), views.models_markdown(models), f"{len(models)} model(s)."

    def generate(who: SignedIn | None, model_id: str | None, prompt: str, negative: str, *args: Any) -> tuple:
        steps, guidance, seed, count, width, height = args
        if not model_id:
            return [], None, "Choose a model first."
        gen_args: dict[str, Any] = {
            "num_inference_steps": int(steps),
            "guidance_scale": float(guidance),
            "num_images": int(count),
            "width": int(width),
            "height": int(height),
        }
        if seed is not None and int(seed) >= 0:
            gen_args["seed"] = int(seed)
        try:
            result: GeneratedImages = _client(target, who).generate(model_id, prompt, negative, **gen_args)
        except Exception as error:
            return [], None, views.readable_error(error)
        paths = []
        for n, data in enumerate(result.images, 1):
            path = out_dir / f"{model_id}-seed{result.seed}-{n}.png"
            path.write_bytes(data)
            paths.append(str(path))
        withheld = len(result.response.get("images", [])) - len(result.images)
        note = f" ({withheld} withheld by content moderation)" if withheld else ""
        return paths, paths, f"{len(paths)} image(s), seed {result.seed}{note}."

    def ask_delete(model_id: str | None) -> tuple[Any, str]:
        if not model_id:
            return gr.update(visible=False), "Choose a model first."
        return gr.update(visible=True), f"Delete model `{model_id}` and everything made from it?"

    def delete(who: SignedIn | None, model_id: str | None) -> tuple[Any, Any, str, str]:
        try:
            client = _client(target, who)
            client.delete_model(str(model_id))
            models = client.list_models()
        except Exception as error:
            return gr.update(visible=False), gr.update(), "", views.readable_error(error)
        return (
            gr.update(visible=False),
            gr.update(choices=_choices(models), value=None),
            views.models_markdown(models),
            f"Deleted model {model_id}.",
        )

    defaults = LOCAL_GENERATION if target.local else DEPLOYED_GENERATION
    with gr.Blocks(title="Personalized Avatar Service") as app:
        who = gr.State(None)
        selfies = gr.State([])
        gr.Markdown("# Personalized Avatar Service")
        with gr.Tabs():
            with gr.Tab("1. Sign in", id="sign-in"):
                label = "Local cloud principal" if target.local else "AWS profile"
                profiles = target.profiles()
                profile = gr.Dropdown(
                    profiles,
                    value=target.default_profile or (profiles[0] if profiles else None),
                    label=label,
                    elem_id="profile",
                    info=f"API {target.api_url}" + (" (the local cloud)" if target.local else ""),
                )
                sign_in_button = gr.Button("Sign in", variant="primary", elem_id="sign-in-button")
                with gr.Group(visible=target.end_user_pool is not None):  # the stack's Cognito user pool
                    gr.Markdown("Or sign in as an **end user (e-mail and password)**:")
                    email = gr.Textbox(label="E-mail address", type="email", elem_id="end-user-email")
                    password = gr.Textbox(label="Password", type="password", elem_id="end-user-password")
                    code = gr.Textbox(label="Authenticator code (if MFA is on)", elem_id="end-user-code")
                    user_button = gr.Button("Sign in as end user", elem_id="end-user-sign-in-button")
                signed_in = gr.Markdown(
                    "Not signed in.", elem_id="sign-in-status", elem_classes="status-line"
                )
            with gr.Tab("2. Selfies and training", id="train"):
                files = gr.File(
                    file_count="multiple",
                    file_types=["image"],
                    label="Selfies (10–20 photos of one person)",
                    elem_id="selfies",
                    height=200,
                )
                screening = gr.Markdown(
                    "Add 10–20 selfies.", elem_id="screening-status", elem_classes="status-line"
                )
                thumbnails = gr.Gallery(
                    label="Selfies as the service sees them (crop square drawn)",
                    columns=5,
                    height="auto",
                    format="png",
                    elem_id="thumbnails",
                )
                model_name = gr.Textbox(label="Model name", max_length=100, elem_id="model-name")
                preset = gr.Radio(
                    list(PRESETS),
                    value=DEFAULT_PRESET,
                    label="Preset",
                    elem_id="preset",
                    info="fast: seconds on the local cloud's tiny model; standard: the service "
                    "defaults; best: more steps and capacity",
                )
                with gr.Accordion("Advanced configuration", open=False):
                    advanced = []
                    for first in range(
                        0, len(FIELDS), 3
                    ):  # three a row on a wide screen, wrapping on a phone
                        with gr.Row():
                            advanced += [_field_input(field) for field in FIELDS[first : first + 3]]
                train_button = gr.Button("Start training", variant="primary", elem_id="train-button")
                progress = gr.HTML("", elem_id="training-progress")
                train_status = gr.Markdown("", elem_id="train-status", elem_classes="status-line")
                previews = gr.Gallery(
                    label="Previews",
                    columns=4,
                    height=320,
                    object_fit="contain",
                    format="png",
                    elem_id="previews",
                )
            with gr.Tab("3. My models and avatars", id="models"):
                model = gr.Dropdown([], label="Model", elem_id="model")
                refresh_button = gr.Button("Refresh my models", elem_id="refresh-button")
                models_table = gr.Markdown("", elem_id="models-table")
                prompt = gr.Textbox(
                    label="Prompt",
                    value="a portrait of <<TOK>>, high quality",
                    elem_id="prompt",
                    info="<<TOK>> stands for the person",
                )
                negative = gr.Textbox(label="Negative prompt", value="blurry", elem_id="negative-prompt")
                with gr.Row():
                    steps = gr.Slider(1, 100, value=defaults["steps"], step=1, label="Steps", elem_id="steps")
                    guidance = gr.Slider(0, 20, value=7.5, step=0.5, label="Guidance", elem_id="guidance")
                with gr.Row():
                    seed = gr.Number(-1, label="Seed (-1: random)", precision=0, minimum=-1, elem_id="seed")
                    count = gr.Slider(1, 4, value=1, step=1, label="Number of images", elem_id="count")
                with gr.Row():
                    width = gr.Dropdown(SIZES, value=defaults["size"], label="Width (px)", elem_id="width")
                    height = gr.Dropdown(SIZES, value=defaults["size"], label="Height (px)", elem_id="height")
                generate_button = gr.Button("Generate", variant="primary", elem_id="generate-button")
                generated, downloads = image_gallery("Avatars", "gallery", "Download the images", "downloads")
                delete_button = gr.Button("Delete this model…", variant="stop", elem_id="delete-button")
                with gr.Row(visible=False) as confirm_row:
                    confirm_text = gr.Markdown("", elem_id="confirm-text")
                    confirm_button = gr.Button("Yes, delete it", variant="stop", elem_id="confirm-delete")
                    cancel_button = gr.Button("Cancel", elem_id="cancel-delete")
                models_status = gr.Markdown("", elem_id="models-status", elem_classes="status-line")
            build_packs_tab(who, lambda session: _client(target, session), out_dir, poll_interval)

        sign_in_button.click(sign_in, [profile], [who, signed_in, model])
        user_button.click(sign_in_user, [email, password, code], [who, signed_in, model, password, code])
        password.submit(sign_in_user, [email, password, code], [who, signed_in, model, password, code])
        files.change(check_selfies, [files, who], [selfies, thumbnails, screening])
        preset.change(preset_values, [preset], advanced)
        train_button.click(
            train, [who, selfies, model_name, *advanced], [progress, previews, train_status, model]
        )
        refresh_button.click(refresh, [who], [model, models_table, models_status])
        generate_button.click(
            generate,
            [who, model, prompt, negative, steps, guidance, seed, count, width, height],
            [generated, downloads, models_status],
        )
        delete_button.click(ask_delete, [model], [confirm_row, confirm_text])
        cancel_button.click(lambda: gr.update(visible=False), None, [confirm_row])
        confirm_button.click(delete, [who, model], [confirm_row, model, models_table, models_status])
    app.queue(default_concurrency_limit=16)
    return app


def _field_input(field: Any) -> Any:
    value = preset_values(DEFAULT_PRESET)[FIELDS.index(field)]
    common = {"label": field.label, "elem_id": f"config-{field.key}", "info": field.info or None}
    if field.kind == "bool":
        return gr.Checkbox(value=value, **common)
    if field.kind == "choice":
        return gr.Dropdown(list(field.choices), value=value, **common)
    if field.kind == "int":
        return gr.Number(
            value, precision=0, minimum=field.minimum, maximum=field.maximum, step=field.step, **common
        )
    if field.kind == "float":
        return gr.Number(value, minimum=field.minimum, maximum=field.maximum, **common)
    return gr.Textbox(value, lines=3 if field.kind == "lines" else 1, **common)
