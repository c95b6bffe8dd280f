"""A Lambda sandbox process: `python -m local_cloud.lambda_worker <module.function> [--webhook-ca PEM]`.

Reads one JSON invocation per line on stdin, answers one JSON line on the original stdout; the handler's
own output (print, Powertools logs, tracebacks) goes to stderr, i.e. the function's log file.
With `--webhook-ca <the webhook sink's CA>`, the function's services send webhooks to the local cloud's
sink (`local_cloud.webhook_sink.install_sender`; an argument, never an environment variable).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def main(handler_path: str, webhook_ca: str | None = None) -> None:
    protocol_out = os.fdopen(os.dup(1), "wb")
    protocol_in = sys.stdin.buffer
    os.dup2(2, 1)  # stdout of the handler joins stderr (the log file)
    for path in (str(REPO_ROOT / "lambdas"), str(REPO_ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    module_name, _, function_name = handler_path.rpartition(".")
    handler = getattr(importlib.import_module(module_name), function_name)
    if webhook_ca and "avatar_api.services" in sys.modules:  # the handler uses the functions' services
        from local_cloud.webhook_sink import install_sender

        install_sender(webhook_ca)
    from avatar_api.lambda_context import (
        LocalContext,  # the one context stand-in (lambdas/ is on the path now)
    )

    def answer(message: dict) -> None:
        sys.stdout.flush()
        protocol_out.write(json.dumps(message).encode() + b"\n")
        protocol_out.flush()

    answer({"ready": True})
    for line in protocol_in:
        request = json.loads(line)
        try:
            result = handler(request["event"], LocalContext(**request["context"]))
            answer({"result": result})
        except Exception as exc:
            traceback.print_exc()
            answer({"error": {"errorType": type(exc).__name__, "errorMessage": str(exc)}})


if __name__ == "__main__":
    arguments = argparse.ArgumentParser()
    arguments.add_argument("handler")
    arguments.add_argument("--webhook-ca")
    parsed = arguments.parse_args()
    main(parsed.handler, parsed.webhook_ca)
