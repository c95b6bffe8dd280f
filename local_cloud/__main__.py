"""`python -m local_cloud up|down|status|serve`.

`up` starts the local cloud in a background process and returns once it is ready, printing the API URL,
the status queue and the generated credentials; `down` stops it (and everything it started); `serve`
runs it in the foreground until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from local_cloud.cloud import DEFAULT_STATE_DIR, LocalCloud
from local_cloud.settings import add_context_argument, context_from_args

STARTUP_TIMEOUT_SECONDS = 300


def _state_file(state_dir: Path) -> Path:
    return state_dir / "state.json"


def _read_state(state_dir: Path) -> dict | None:
    try:
        return json.loads(_state_file(state_dir).read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _print_summary(cloud_state: dict, credentials: Path) -> None:
    print(f"API Gateway (SigV4, service execute-api): {cloud_state['api_url']}")
    print(f"AWS services (moto: S3, SNS, SQS, SageMaker): {cloud_state['aws_endpoint_url']}")
    print(f"SageMaker runtime: {cloud_state['sagemaker_runtime_url']}")
    print(f"Training status queue (SQS): {cloud_state['status_queue_url']}")
    if cloud_state.get("events_topic_arn"):  # docs/events.md: subscribe with a filter policy on `owner`
        print(f"Training events topic (SNS): {cloud_state['events_topic_arn']}")
    print(f"Buckets: {cloud_state['data_bucket']}, {cloud_state['hosting_bucket']}")
    print(f"Logs: {cloud_state['logs']}")
    print(f"Credentials (profiles {', '.join(cloud_state['profiles'])}): {credentials}")
    print(credentials.read_text())
    print("Use it from a shell:")
    print(f"  export AWS_SHARED_CREDENTIALS_FILE={credentials} AWS_PROFILE={cloud_state['profiles'][0]}")
    print(
        f"  export AWS_ENDPOINT_URL={cloud_state['aws_endpoint_url']} AVATAR_API_URL={cloud_state['api_url']}"
    )
    print(f"  export AVATAR_STATUS_QUEUE_URL={cloud_state['status_queue_url']}")
    if cloud_state.get("end_users"):  # docs/end-users.md: `avatar login alice@example.com --password-stdin`
        print(f"End users (passwords in {cloud_state['end_users_file']}):")
        print("  export " + " ".join(f"{k}={v}" for k, v in cloud_state["end_users"].items()))


def serve(state_dir: Path, context: dict[str, str]) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with LocalCloud(state_dir=state_dir, context=context) as cloud:
        print(f"local cloud up: {cloud.api_url} (Ctrl-C to stop)", flush=True)
        stop.wait()
    print("local cloud stopped", flush=True)
    return 0


def up(state_dir: Path, context: dict[str, str]) -> int:
    state = _read_state(state_dir)
    if state and _alive(state["pid"]):
        print(f"already running (pid {state['pid']})")
        _print_summary(state, Path(state["credentials_file"]))
        return 0
    _state_file(state_dir).unlink(missing_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "logs").mkdir(exist_ok=True)
    out = (state_dir / "logs" / "supervisor.log").open("ab")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "local_cloud", "serve", "--state-dir", str(state_dir)),
            *(arg for key, value in context.items() for arg in ("-c", f"{key}={value}")),
        ],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    out.close()
    print(f"starting the local cloud (pid {process.pid}); logs in {state_dir / 'logs'} ...", flush=True)
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            print(f"the local cloud failed to start (exit {process.returncode}); see {state_dir / 'logs'}")
            return 1
        state = _read_state(state_dir)
        if state and state.get("pid") == process.pid:
            _print_summary(state, Path(state["credentials_file"]))
            return 0
        time.sleep(0.5)
    print("the local cloud did not become ready in time; stopping it")
    os.killpg(process.pid, signal.SIGTERM)
    return 1


def down(state_dir: Path, _context: dict[str, str]) -> int:
    state = _read_state(state_dir)
    if not state or not _alive(state["pid"]):
        print("the local cloud is not running")
        _state_file(state_dir).unlink(missing_ok=True)
        return 0
    pid = state["pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.25)
    if _alive(pid):
        print(f"pid {pid} did not stop in 60 s; killing its process group")
        os.killpg(pid, signal.SIGKILL)
    _state_file(state_dir).unlink(missing_ok=True)
    print("the local cloud is down")
    return 0


def status(state_dir: Path, _context: dict[str, str]) -> int:
    state = _read_state(state_dir)
    if state and _alive(state["pid"]):
        _print_summary(state, Path(state["credentials_file"]))
        return 0
    print("the local cloud is not running")
    return 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_cloud", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status", "serve"])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="default: .local-cloud/")
    add_context_argument(parser)
    args = parser.parse_args(argv)
    state_dir = args.state_dir.resolve()
    context = context_from_args(parser, args)
    return {"up": up, "down": down, "status": status, "serve": serve}[args.command](state_dir, context)


if __name__ == "__main__":
    sys.exit(main())
