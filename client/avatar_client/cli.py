"""`avatar`: the command line on top of `AvatarClient`.

Commands: train, status, generate, models, delete, doctor (checks a deployed stack; see doctor.py).

Configuration (flags win over environment variables):
  --endpoint / AVATAR_API_URL            the API's base URL (CloudFormation output of the deployment)
  --region / AWS_REGION, AWS_DEFAULT_REGION
  --profile / AWS_PROFILE                credentials, as for the AWS CLI
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from avatar_client.client import AvatarApiError, AvatarClient, TrainingTimeout
from avatar_client.doctor import Doctor, run_doctor, stack_outputs
from avatar_client.selfies import selfie_paths

SPINNER = "|/-\\"


class Progress:
    """One self-overwriting status line on a terminal; a line a minute otherwise (logs, CI)."""

    def __init__(self, label: str, stream: Any = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.ticks = 0
        self.last_line = -60.0

    def __call__(self, status: str, elapsed: float) -> None:
        minutes, seconds = divmod(int(elapsed), 60)
        text = f"{self.label}: {status} ({minutes}m{seconds:02d}s)"
        if self.tty:
            self.stream.write(f"\r{SPINNER[self.ticks % len(SPINNER)]} {text}\033[K")
            self.stream.flush()
        elif elapsed - self.last_line >= 60:
            self.stream.write(text + "\n")
            self.last_line = elapsed
        self.ticks += 1

    def done(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avatar", description="Personalized Avatar Service client")
    parser.add_argument("--endpoint", default=os.environ.get("AVATAR_API_URL"), help="API base URL")
    parser.add_argument("--region", default=None, help="AWS region of the API")
    parser.add_argument("--profile", default=None, help="AWS profile for credentials")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="start a training from a folder of 10-20 selfies")
    train.add_argument("directory", type=Path)
    train.add_argument("--name", help="model name")
    train.add_argument("--config", type=Path, help="JSON file of training hyper-parameters")
    train.add_argument("--idempotency-key", help="retrying with the same key never starts a second training")
    train.add_argument("--no-wait", action="store_true", help="return once the training is queued")
    train.add_argument("--timeout", type=float, default=7200, help="seconds to wait (default 7200)")
    train.add_argument("--poll-interval", type=float, default=15)

    status = commands.add_parser("status", help="a training's status")
    status.add_argument("training_id")
    status.add_argument("--wait", action="store_true", help="wait until it completed or failed")
    status.add_argument("--timeout", type=float, default=7200)
    status.add_argument("--poll-interval", type=float, default=15)

    generate = commands.add_parser("generate", help="generate images with a model")
    generate.add_argument("model_id")
    generate.add_argument("prompt", help='e.g. "a portrait of <<TOK>> as an astronaut"')
    generate.add_argument("-o", "--output", type=Path, default=Path("avatar.png"))
    generate.add_argument("--negative-prompt", default="")
    generate.add_argument("--steps", type=int, dest="num_inference_steps")
    generate.add_argument("--guidance-scale", type=float)
    generate.add_argument("--seed", type=int)
    generate.add_argument("--num-images", type=int)
    generate.add_argument("--width", type=int)
    generate.add_argument("--height", type=int)

    commands.add_parser("models", help="list your models")
    delete = commands.add_parser("delete", help="erase a model and everything it was made from")
    delete.add_argument("model_id")

    doctor = commands.add_parser("doctor", help="check a deployed stack: endpoints, AMI, base model, queue")
    doctor.add_argument(
        "--stack", default="avatar-service", help="service stack name (default avatar-service)"
    )
    doctor.add_argument("--training-ami", help="InferenceAmiVersion the training endpoint must run")
    doctor.add_argument("--hosting-ami", help="InferenceAmiVersion the hosting endpoint must run")
    doctor.add_argument("--full", action="store_true", help="also run one short training and one generation")
    doctor.add_argument("--selfies", type=Path, help="folder of 10-20 selfies for --full")
    doctor.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the training")
    return parser


def make_client(args: argparse.Namespace) -> AvatarClient:
    if not args.endpoint:
        raise SystemExit("avatar: set --endpoint or AVATAR_API_URL")
    session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
    return AvatarClient(args.endpoint, args.region, session=session)


def _print(document: Any) -> None:
    print(json.dumps(document, indent=2))


def _wait(client: AvatarClient, training_id: str, args: argparse.Namespace) -> int:
    progress = Progress(f"training {training_id}")
    try:
        status = client.wait_for_training(
            training_id, timeout=args.timeout, poll_interval=args.poll_interval, on_progress=progress
        )
    finally:
        progress.done()
    _print(status)
    return 0 if status["status"] == "completed" else 1


def output_paths(output: Path, count: int) -> list[Path]:
    """`out.png` for one image; `out-1.png`, `out-2.png`, ... for several."""
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i}{output.suffix or '.png'}") for i in range(1, count + 1)]


def run(args: argparse.Namespace, client: AvatarClient) -> int:
    if args.command == "train":
        paths = selfie_paths(args.directory)
        config = json.loads(args.config.read_text()) if args.config else None
        print(f"uploading {len(paths)} selfies from {args.directory}", file=sys.stderr)
        accepted = client.start_training(
            paths, model_name=args.name, config=config, idempotency_key=args.idempotency_key
        )
        _print(accepted)
        return 0 if args.no_wait else _wait(client, accepted["training_id"], args)
    if args.command == "status":
        if args.wait:
            return _wait(client, args.training_id, args)
        _print(client.get_training(args.training_id))
        return 0
    if args.command == "generate":
        options = {
            name: getattr(args, name)
            for name in ("num_inference_steps", "guidance_scale", "seed", "num_images", "width", "height")
            if getattr(args, name) is not None
        }
        started = time.monotonic()
        result = client.generate(args.model_id, args.prompt, args.negative_prompt, **options)
        for path, data in zip(output_paths(args.output, len(result.images)), result.images, strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            print(path)
        print(f"seed {result.seed}, {time.monotonic() - started:.1f} s", file=sys.stderr)
        return 0
    if args.command == "models":
        _print(client.list_models())
        return 0
    if args.command == "delete":
        _print(client.delete_model(args.model_id))
        return 0
    raise AssertionError(args.command)


def doctor(args: argparse.Namespace, session: Any = None) -> int:
    """`avatar doctor`: pass/fail per step on stdout; exit 1 when a step failed."""
    if args.full and not args.selfies:
        raise SystemExit("avatar doctor: --full needs --selfies DIR")
    session = session or boto3.session.Session(profile_name=args.profile, region_name=args.region)
    try:
        outputs = stack_outputs(session.client("cloudformation"), args.stack)
    except (BotoCoreError, ClientError) as error:
        print(f"FAIL  stack {args.stack}: cannot read its outputs: {error}")
        return 1
    checks = Doctor(
        outputs, session.client, expected_amis={"training": args.training_ami, "hosting": args.hosting_ami}
    )
    client = None
    selfies: list[bytes] = []
    if args.full:
        args.endpoint = args.endpoint or outputs.get("ApiUrl")
        client = make_client(args)
        selfies = [path.read_bytes() for path in selfie_paths(args.selfies)]
    report = run_doctor(checks, sys.stdout, client=client, selfies=selfies, timeout=args.timeout)
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "doctor":
            return doctor(args)
        return run(args, make_client(args))
    except AvatarApiError as error:
        print(f"avatar: {error.status} {error.code}: {error.message}", file=sys.stderr)
        return 2
    except (TrainingTimeout, OSError) as error:
        print(f"avatar: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
