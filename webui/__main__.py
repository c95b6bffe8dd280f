"""`python -m webui`: the web app against the running local cloud (`--local-cloud`, what `make ui` does)
or a deployed stack (`--api-url`, signing in with an AWS profile, and as an end user of its Cognito user
pool when `--user-pool-id`, `--user-pool-client-id` and `--identity-pool-id` name it)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from avatar_client.end_users import EndUserPool
from webui.access import MAX_UPLOAD_BYTES, bind_problem, read_auth_file
from webui.session import Target

DEFAULT_PORT = 7860
POOL_ARGS = (
    ("--user-pool-id", "AVATAR_USER_POOL_ID"),
    ("--user-pool-client-id", "AVATAR_USER_POOL_CLIENT_ID"),
    ("--identity-pool-id", "AVATAR_IDENTITY_POOL_ID"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m webui", description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--api-url", help="a deployed stack's API URL (the stack output ApiUrl)")
    where.add_argument("--local-cloud", type=Path, metavar="STATE_DIR", help="a running local cloud's state")
    parser.add_argument("--region", help="the stack's region (default: from the URL or the profile)")
    parser.add_argument("--profile", help="the AWS profile preselected at sign-in (default: AWS_PROFILE)")
    pool = parser.add_argument_group(
        "end-user sign-in (a deployed stack's outputs; default: AVATAR_* variables)"
    )
    for flag, variable in POOL_ARGS:
        pool.add_argument(flag, default=os.environ.get(variable), metavar="ID")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="listen address (default 127.0.0.1; any other than loopback needs --auth-file)",
    )
    parser.add_argument(
        "--auth-file",
        type=Path,
        default=os.environ.get("AVATAR_WEBUI_AUTH_FILE") or None,
        metavar="FILE",
        help="the app's own sign-in: user:password lines, chmod 600 (default: AVATAR_WEBUI_AUTH_FILE)",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    parser.add_argument("--poll-interval", type=float, default=2.0, help="seconds between status checks")
    return parser


def target_from(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Target:
    if args.local_cloud:
        return Target.local_cloud(args.local_cloud.resolve())
    return Target(
        args.api_url,
        args.region,
        default_profile=args.profile or os.environ.get("AWS_PROFILE"),
        end_user_pool=end_user_pool(parser, args),
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    options = launch_options(parser, args)
    target = target_from(parser, args)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves this machine
    from webui.app import build  # gradio: imported once the arguments are known to be good

    app = build(target, args.poll_interval)
    print(f"web app: http://{args.host}:{args.port}/ (API {target.api_url}; Ctrl-C to stop)", flush=True)
    app.launch(**options, show_error=False, quiet=True, css=app_css())
    return 0


def launch_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """Gradio's `launch` arguments: the address (loopback unless the app has its own sign-in), the
    sign-in, the upload limit (webui.access). A usage error before anything starts otherwise."""
    auth = None
    if args.auth_file is not None:
        try:
            auth = read_auth_file(args.auth_file)
        except (OSError, ValueError) as error:
            parser.error(f"--auth-file: {error}")
    problem = bind_problem(args.host, auth)
    if problem:
        parser.error(problem)
    return {
        "server_name": args.host,
        "server_port": args.port,
        "auth": auth,
        "auth_message": "Sign in to the avatar web app" if auth else None,
        "max_file_size": MAX_UPLOAD_BYTES,
    }


def end_user_pool(parser: argparse.ArgumentParser, args: argparse.Namespace) -> EndUserPool | None:
    """The stack's user pool and identity pool, when all three ids are given (none: no end-user sign-in)."""
    ids = [args.user_pool_id, args.user_pool_client_id, args.identity_pool_id]
    if not any(ids):
        return None
    if not all(ids):
        parser.error("end-user sign-in needs all of " + ", ".join(flag for flag, _ in POOL_ARGS))
    region = args.region or args.user_pool_id.split("_", 1)[0]  # a user pool id is <region>_<id>
    return EndUserPool(region, args.user_pool_id, args.user_pool_client_id, args.identity_pool_id)


def app_css() -> str:
    from webui.app import CSS

    return CSS


if __name__ == "__main__":
    sys.exit(main())
