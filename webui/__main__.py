"""`python -m webui`: the web app against the running local cloud (`--local-cloud`, what `make ui` does)
or a deployed stack (`--api-url`, signing in with an AWS profile)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from webui.session import Target

DEFAULT_PORT = 7860


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webui", description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--api-url", help="a deployed stack's API URL (the stack output ApiUrl)")
    where.add_argument("--local-cloud", type=Path, metavar="STATE_DIR", help="a running local cloud's state")
    parser.add_argument("--region", help="the stack's region (default: from the URL or the profile)")
    parser.add_argument("--profile", help="the AWS profile preselected at sign-in (default: AWS_PROFILE)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    parser.add_argument("--poll-interval", type=float, default=2.0, help="seconds between status checks")
    args = parser.parse_args(argv)
    if args.local_cloud:
        target = Target.local_cloud(args.local_cloud.resolve())
    else:
        target = Target(
            args.api_url, args.region, default_profile=args.profile or os.environ.get("AWS_PROFILE")
        )
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves this machine
    from webui.app import build  # gradio: imported once the arguments are known to be good

    app = build(target, args.poll_interval)
    print(f"web app: http://{args.host}:{args.port}/ (API {target.api_url}; Ctrl-C to stop)", flush=True)
    app.launch(server_name=args.host, server_port=args.port, show_error=False, quiet=True, css=app_css())
    return 0


def app_css() -> str:
    from webui.app import CSS

    return CSS


if __name__ == "__main__":
    sys.exit(main())
