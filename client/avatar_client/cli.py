"""`avatar`: the command line on top of `AvatarClient`.

Commands: login, logout, train, status, generate, models, delete, pack (avatar packs; see pack_cli.py),
doctor (checks a deployed stack; see doctor.py).

Configuration (flags win over environment variables):
  --endpoint / AVATAR_API_URL            the API's base URL (CloudFormation output of the deployment)
  --region / AWS_REGION, AWS_DEFAULT_REGION
  --profile / AWS_PROFILE                credentials, as for the AWS CLI
  --login-file / AVATAR_LOGIN_FILE       where `avatar login` keeps an end user's sign-in (default
                                         ~/.config/avatar/login.json, mode 0600); while it exists, the
                                         other commands act as that end user unless --profile is given
"""

from __future__ import annotations

import argparse
import getpass
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
from avatar_client.end_users import (
    EndUserPool,
    EndUserSession,
    SignInError,
    load_login,
    login_file,
    save_login,
)
from avatar_client.pack_cli import add_pack_parser, run_pack
from avatar_client.presets import TRAINING_PRESETS
from avatar_client.progress import ProgressDisplay
from avatar_client.selfies import selfie_paths
from avatar_contract.status import TrainingStatus


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avatar", description="Personalized Avatar Service client")
    parser.add_argument("--endpoint", default=os.environ.get("AVATAR_API_URL"), help="API base URL")
    parser.add_argument("--region", default=None, help="AWS region of the API")
    parser.add_argument("--profile", default=None, help="AWS profile for credentials")
    parser.add_argument("--login-file", type=Path, default=None, help="an end user's saved sign-in")
    commands = parser.add_subparsers(dest="command", required=True)

    login = commands.add_parser("login", help="sign an end user in (the stack's Cognito user pool)")
    login.add_argument("email")
    login.add_argument("--user-pool-id", default=os.environ.get("AVATAR_USER_POOL_ID"), help="UserPoolId")
    login.add_argument(
        "--client-id", default=os.environ.get("AVATAR_USER_POOL_CLIENT_ID"), help="UserPoolClientId"
    )
    login.add_argument(
        "--identity-pool-id", default=os.environ.get("AVATAR_IDENTITY_POOL_ID"), help="IdentityPoolId"
    )
    login.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (else: a prompt)"
    )
    commands.add_parser("logout", help="forget the saved end-user sign-in")

    train = commands.add_parser("train", help="start a training from a folder of 10-20 selfies")
    train.add_argument("directory", type=Path)
    train.add_argument("--name", help="model name")
    train.add_argument("--config", type=Path, help="JSON file of training hyper-parameters")
    train.add_argument(
        "--preset", choices=sorted(TRAINING_PRESETS), help="a named configuration (--config keys win over it)"
    )
    train.add_argument("--webhook-url", help="HTTPS URL the outcome is POSTed to, signed (docs/events.md)")
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
    secret = commands.add_parser("webhook-secret", help="your webhook signing secret (docs/events.md)")
    secret.add_argument(
        "--rotate", action="store_true", help="a new secret; the old one still signs for the grace period"
    )
    delete = commands.add_parser("delete", help="erase a model and everything it was made from")
    delete.add_argument("model_id")
    add_pack_parser(commands)

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
    saved = None if args.profile else load_login(login_file(args.login_file))
    if saved is not None:  # an end user: the identity pool's credentials; waiting polls the API
        session = boto3.session.Session(region_name=args.region)
        user = EndUserSession.from_saved(saved, session=session)
        return AvatarClient.for_session(args.endpoint or saved["endpoint_url"], user)
    if not args.endpoint:
        raise SystemExit("avatar: set --endpoint or AVATAR_API_URL")
    session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
    return AvatarClient(args.endpoint, args.region, session=session)


def _print(document: Any) -> None:
    print(json.dumps(document, indent=2))


def _wait(client: AvatarClient, training_id: str, args: argparse.Namespace) -> int:
    progress = ProgressDisplay(f"training {training_id}")
    try:
        status = client.wait_for_training(
            training_id, timeout=args.timeout, poll_interval=args.poll_interval, on_progress=progress
        )
    finally:
        progress.done()
    _print(status)
    return 0 if status["status"] == TrainingStatus.COMPLETED else 1


def output_paths(output: Path, count: int) -> list[Path]:
    """`out.png` for one image; `out-1.png`, `out-2.png`, ... for several."""
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i}{output.suffix or '.png'}") for i in range(1, count + 1)]


def run(args: argparse.Namespace, client: AvatarClient) -> int:
    if args.command == "train":
        paths = selfie_paths(args.directory)
        config = {
            **(TRAINING_PRESETS[args.preset] if args.preset else {}),
            **(json.loads(args.config.read_text()) if args.config else {}),
        }
        print(f"uploading {len(paths)} selfies from {args.directory}", file=sys.stderr)
        accepted = client.start_training(
            paths,
            model_name=args.name,
            config=config or None,
            idempotency_key=args.idempotency_key,
            webhook_url=args.webhook_url,
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
    if args.command == "pack":
        return run_pack(args, client)
    if args.command == "webhook-secret":
        _print(client.rotate_webhook_secret() if args.rotate else client.webhook_secrets())
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


def login(args: argparse.Namespace) -> int:
    """`avatar login`: sign in, get the first credentials, keep the refresh token (never printed)."""
    missing = [
        flag
        for flag, value in (
            ("--endpoint", args.endpoint),
            ("--user-pool-id", args.user_pool_id),
            ("--client-id", args.client_id),
            ("--identity-pool-id", args.identity_pool_id),
        )
        if not value
    ]
    if missing:
        raise SystemExit(f"avatar login: set {', '.join(missing)} (the stack's outputs)")
    region = args.region or args.user_pool_id.split("_", 1)[0]
    pool = EndUserPool(region, args.user_pool_id, args.client_id, args.identity_pool_id)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    try:
        user = EndUserSession.sign_in(
            pool, args.email, password, mfa_code=lambda: input("authenticator code: ").strip()
        )
        user.fetch_credentials()  # the identity id, and proof that the identity pool accepts the user
    except (SignInError, ClientError) as error:
        print(f"avatar login: {error}", file=sys.stderr)
        return 1
    path = login_file(args.login_file)
    save_login(user, path, args.endpoint)
    print(f"signed in as {args.email} (identity {user.identity_id}); saved to {path}", file=sys.stderr)
    return 0


def logout(args: argparse.Namespace) -> int:
    login_file(args.login_file).unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "doctor":
            return doctor(args)
        if args.command in ("login", "logout"):
            return login(args) if args.command == "login" else logout(args)
        return run(args, make_client(args))
    except AvatarApiError as error:
        print(f"avatar: {error.status} {error.code}: {error.message}", file=sys.stderr)
        return 2
    except (TrainingTimeout, OSError) as error:
        print(f"avatar: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
