"""`make demo`: the whole product on this machine, driven the way a client app drives it.

Starts the local cloud, then — through the `avatar_client` SDK, every call SigV4-signed — makes 10 selfies
from a bundled public-domain photo, starts a training, waits for SageMaker's notification on the status
SQS queue, generates two avatars, writes everything plus a contact sheet to `demo-out/`, and shuts the
local cloud down. Each of the nine steps of the architecture is printed as it happens, with its time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.credentials import Credentials
from PIL import Image

from avatar_client.presets import TRAINING_PRESETS
from avatar_contract.keys import progress_key
from avatar_contract.status import TrainingStatus
from local_cloud.cloud import REPO_ROOT, LocalCloud
from local_cloud.contact_sheet import contact_sheet
from local_cloud.selfies import make_selfies, to_jpeg
from local_cloud.settings import add_context_argument, context_from_args, load_settings

# Small and fast on a 2-core CPU: the tiny random-weight model at 64 px, a few LoRA steps.
DEMO_TRAINING_CONFIG: dict[str, Any] = {
    **TRAINING_PRESETS["fast"],
    "validation_prompts": ["a photo of <<TOK>>"],
}
# The training container renders previews (and prior-preservation class images) with this many steps;
# the tiny random-weight model does not need its default of 25.
DEMO_CONTAINER_ENV = {"AVATAR_TRAINING_SAMPLE_STEPS": "4"}
DEMO_PROMPTS = (
    "a photo of <<TOK>> as an astronaut, high quality",
    "a painting of <<TOK>> wearing a hat, in the style of a portrait",
)
DEMO_GENERATION: dict[str, Any] = {"num_inference_steps": 4, "width": 64, "height": 64, "guidance_scale": 7.5}


@dataclass
class StepClock:
    """Prints the nine steps as they happen and keeps their timings for the summary."""

    started: float = field(default_factory=time.monotonic)
    timings: list[tuple[str, float]] = field(default_factory=list)

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    def step(self, number: int | str, title: str, seconds: float, detail: str = "") -> None:
        self.timings.append((f"{number}. {title}", seconds))
        suffix = f" — {detail}" if detail else ""
        self.say(f"step {number}: {title} ({seconds:.1f} s){suffix}")


class ProgressWatcher:
    """Prints the training's progress while the demo waits for its notification: `GET /trainings/{id}`
    through the SDK, in the CLI's words (`avatar_client.progress.describe`), a line per change."""

    def __init__(self, client: Any, training_id: str, clock: StepClock, interval: float = 1.0) -> None:
        self.client, self.training_id, self.clock, self.interval = client, training_id, clock, interval
        self.phases: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProgressWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(self.interval + 60)

    def _run(self) -> None:
        from avatar_client.progress import describe

        last: tuple[Any, ...] | None = None
        while not self._stop.wait(self.interval):
            try:
                status = self.client.get_training(self.training_id)
            except Exception as exc:  # the demo goes on; the notification decides
                self.clock.say(f"    progress: unavailable ({type(exc).__name__}: {exc})")
                continue
            progress = status.get("progress")
            if not progress or (progress["phase"], progress["step"]) == last:
                continue
            last = (progress["phase"], progress["step"])
            if not self.phases or self.phases[-1] != progress["phase"]:
                self.phases.append(progress["phase"])
            self.clock.say(f"    progress: {describe(status)}")

    def say_last(self, cloud: LocalCloud, bucket: str, key: str) -> None:
        """The progress object as the training left it (the API returns none once it has an outcome)."""
        from avatar_client.progress import describe

        body = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        progress = json.loads(body)
        if not self.phases or self.phases[-1] != progress["phase"]:
            self.phases.append(progress["phase"])
        self.clock.say(f"    progress, as the training container left it: {describe({'progress': progress})}")


def _client_modules() -> tuple[Any, Any]:
    client_source = str(REPO_ROOT / "client")
    if client_source not in sys.path:
        sys.path.insert(0, client_source)
    from avatar_client.client import AvatarClient
    from avatar_client.notifications import parse_notification

    return AvatarClient, parse_notification


def wait_for_notification(
    sqs: Any, queue_url: str, training_id: str, parse: Any, clock: StepClock, timeout: float
) -> tuple[Any, dict[str, Any]]:
    """Long-poll the status queue as a client app does, until this training's notification arrives."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        clock.say("    waiting for the training's notification on the SQS status queue (long poll) ...")
        response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=10)
        for message in response.get("Messages", []):
            notification = parse(message["Body"])
            if notification and notification.inference_id == training_id:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                return notification, json.loads(message["Body"])
    raise TimeoutError(f"no notification for {training_id} after {timeout:.0f} s")


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _seconds_between(start_iso: str, end_iso: str) -> float:
    return (_parse_time(end_iso) - _parse_time(start_iso)).total_seconds()


def run_demo(
    out_dir: Path,
    state_dir: Path | None = None,
    training_steps: int | None = None,
    context: dict[str, str] | None = None,
) -> dict[str, Any]:
    AvatarClient, parse_notification = _client_modules()
    clock = StepClock()
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in [*out_dir.glob("*"), *out_dir.glob("selfies/*")]:
        if old.is_file():
            old.unlink()
    config = dict(DEMO_TRAINING_CONFIG)
    if training_steps:
        config["max_train_steps"] = training_steps
    family = load_settings(overrides=context).config.base_model  # cdk.json baseModel, or -c's

    clock.say(
        "starting the local cloud: moto (S3, SNS, SQS, SageMaker), API Gateway, Lambda, training service, "
        f"Triton (builds the tiny random-weight {family} model on first use) ..."
    )
    t = time.monotonic()
    with LocalCloud(state_dir=state_dir, extra_container_env=DEMO_CONTAINER_ENV, context=context) as cloud:
        clock.timings.append(("local cloud start-up", time.monotonic() - t))
        clock.say(
            f"local cloud up in {time.monotonic() - t:.1f} s — API {cloud.api_url}, logs {cloud.log_dir}"
        )
        principal = cloud.principals[0]
        credentials = Credentials(principal.access_key_id, principal.secret_access_key)
        session = boto3.session.Session(
            aws_access_key_id=principal.access_key_id,
            aws_secret_access_key=principal.secret_access_key,
            region_name=cloud.region,
        )
        sqs = session.client("sqs", endpoint_url=cloud.aws.endpoint_url)
        client = AvatarClient(
            cloud.api_url,
            cloud.region,
            credentials=credentials,
        )
        clock.say(f"client app signs as {principal.arn} (SigV4, service execute-api)")

        selfies = make_selfies(10)
        selfie_bytes = [to_jpeg(image) for image in selfies]
        for n, data in enumerate(selfie_bytes, 1):
            (out_dir / "selfies").mkdir(exist_ok=True)
            (out_dir / "selfies" / f"selfie-{n:02d}.jpg").write_bytes(data)
        clock.say(
            f"made 10 selfies from the public-domain NASA portrait (skimage.data.astronaut) -> "
            f"{out_dir}/selfies/"
        )

        t = time.monotonic()
        accepted = client.start_training(selfie_bytes, model_name="demo", config=config, prepare=False)
        training_id, model_id = accepted["training_id"], accepted["model_id"]
        clock.step(
            1,
            "client app: POST /trainings to API Gateway, SigV4 signature verified",
            time.monotonic() - t,
            f"202 {accepted['status']}, training {training_id}, model {model_id}",
        )
        data_bucket = cloud.settings.data_bucket
        listing = cloud.client("s3").list_objects_v2(Bucket=data_bucket, Prefix="trainings/")
        inputs = [obj["Key"] for obj in listing.get("Contents", []) if training_id in obj["Key"]]
        clock.step(
            2,
            "Lambda 'trainings' packaged images + config.json to S3 and called InvokeEndpointAsync",
            0.0,
            "within step 1's request: " + ", ".join(f"s3://{data_bucket}/{key}" for key in inputs),
        )

        with ProgressWatcher(client, training_id, clock) as watcher:
            clock.say(
                "step 3: the async endpoint queued the request and runs it on the training service "
                "(image preparation -> DreamBooth-LoRA -> previews + artifact) ..."
            )
            notification, raw = wait_for_notification(
                sqs, cloud.status_queue_url, training_id, parse_notification, clock, timeout=300
            )
        received = dt.datetime.now(dt.UTC)
        outcome = notification.response_parameters
        owner = accepted["target_model"].split("/")[0]
        watcher.say_last(cloud, data_bucket, progress_key(owner, training_id))
        clock.step(
            3,
            "SageMaker async endpoint ran the training",
            _seconds_between(raw["receivedTime"], raw["eventTime"]),
            f"{notification.status}, output {outcome.output_location or outcome.failure_location}",
        )
        clock.step(
            4,
            "SageMaker published its notification to the SNS success topic",
            0.0,
            f"{cloud.settings.success_topic}: invocationStatus={raw['invocationStatus']}",
        )
        clock.step(
            5,
            "client app received it from the SQS status queue",
            max(0.0, (received - _parse_time(raw["eventTime"])).total_seconds()),
            f"inferenceId={notification.inference_id} (time from eventTime to receipt)",
        )
        if notification.status != TrainingStatus.COMPLETED:
            raise RuntimeError(f"the training failed: {notification.failure_reason}")

        # The notification says the container finished; the model publisher then checks what it staged and
        # writes the artifact (issue 21 M1): the API says completed once it is published.
        status = client.wait_for_training(training_id, timeout=120, poll_interval=0.5, max_poll_interval=2)
        if status["status"] != TrainingStatus.COMPLETED:
            raise RuntimeError(f"the model was not published: {status.get('reason')}")
        target_model = status["target_model"]
        head = cloud.client("s3").head_object(
            Bucket=cloud.settings.hosting_bucket, Key=cloud.settings.models_prefix + target_model
        )
        clock.step(
            6,
            "the model publisher checked the staged model and wrote the artifact to the S3 hosting bucket",
            0.0,
            f"s3://{cloud.settings.hosting_bucket}/{cloud.settings.models_prefix}{target_model} "
            f"({head['ContentLength']} bytes); metrics {status.get('metrics')}",
        )
        previews = []
        for n, url in enumerate(status.get("preview_urls", []), 1):
            with urllib.request.urlopen(url, timeout=30) as response:
                data = response.read()
            (out_dir / f"preview-{n}.jpg").write_bytes(data)
            previews.append(Image.open(io.BytesIO(data)))

        avatars = []
        for n, prompt in enumerate(DEMO_PROMPTS, 1):
            host = cloud.runtime.host(cloud.settings.hosting_endpoint) if cloud.runtime else None
            cached = host is not None and target_model in host.loaded_models()
            t = time.monotonic()
            result = client.generate(model_id, prompt, seed=n, num_images=1, **DEMO_GENERATION)
            seconds = time.monotonic() - t
            path = out_dir / f"avatar-{n}.png"
            path.write_bytes(result.images[0])
            avatars.append(Image.open(io.BytesIO(result.images[0])))
            host = cloud.runtime.host(cloud.settings.hosting_endpoint) if cloud.runtime else None
            load_seconds = (host.load_seconds(target_model) if host else None) or 0.0
            clock.step(
                7,
                f"avatar {n}/2: client app POST /models/{{id}}/generations to API Gateway (SigV4)",
                seconds,
                f"'{prompt}' -> {path.name}",
            )
            clock.step(
                8,
                "Lambda 'generations' called InvokeEndpoint with TargetModel",
                0.0,
                f"within step 7's request: TargetModel={target_model}",
            )
            clock.step(
                9,
                "Triton multi-model endpoint served the personal model",
                0.0 if cached else load_seconds,
                "already loaded: cache hit"
                if cached
                else "fetched from the hosting bucket, extracted, loaded into Triton (POST /models), cached",
            )

        sheet = contact_sheet(
            [("selfies (inputs)", selfies), ("training previews", previews), ("avatars (outputs)", avatars)],
            out_dir / "contact-sheet.png",
            title=(
                f"Personalized Avatar Service - local cloud demo "
                f"(model {model_id}, tiny random-weight {family})"
            ),
        )
        clock.say(f"contact sheet: {sheet}")
        clock.say("shutting the local cloud down ...")
        t = time.monotonic()
    clock.timings.append(("local cloud shutdown", time.monotonic() - t))
    total = time.monotonic() - clock.started
    summary = {
        "total_seconds": round(total, 1),
        "steps": [[name, round(s, 2)] for name, s in clock.timings],
        "training_id": training_id,
        "model_id": model_id,
        "progress_phases": watcher.phases,
    }
    (out_dir / "timings.json").write_text(json.dumps(summary, indent=2))
    print("\nwall time by step:")
    for name, seconds in clock.timings:
        print(f"  {seconds:6.1f} s  {name}")
    print(f"  {total:6.1f} s  total (everything written to {out_dir}/)")
    return summary


def main(argv: list[str] | None = None) -> int:
    # Keep the terminal to the nine steps: library notices and progress bars go nowhere (the
    # containers' own output is in .local-cloud/logs/).
    for name in ("TRANSFORMERS_VERBOSITY", "DIFFUSERS_VERBOSITY"):
        os.environ.setdefault(name, "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = argparse.ArgumentParser(prog="python -m local_cloud.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "demo-out")
    parser.add_argument("--state-dir", type=Path, default=None, help="default: .local-cloud/")
    parser.add_argument("--steps", type=int, default=None, help="LoRA training steps (default 8)")
    add_context_argument(parser)  # -c baseModel=sdxl-base-1.0: the demo on the tiny SDXL
    args = parser.parse_args(argv)
    run_demo(args.out.resolve(), args.state_dir, args.steps, context_from_args(parser, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
