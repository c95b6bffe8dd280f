"""`avatar pack ...`: avatar packs from the command line (docs/packs.md, docs/client.md).

    avatar pack list                                  the catalogue (GET /packs)
    avatar pack start MODEL_ID --pack NAME [--images-per-prompt N] [--seed S] [--webhook-url U]
                      [--idempotency-key K] [--wait [--out DIR]]
    avatar pack start MODEL_ID --prompts prompts.json ...   inline prompts instead of a pack
    avatar pack jobs MODEL_ID                         the model's pack jobs, newest first
    avatar pack status MODEL_ID JOB_ID [--wait [--out DIR]]
    avatar pack cancel MODEL_ID JOB_ID
    avatar pack download MODEL_ID JOB_ID [--out DIR]

Waiting shows a bar of the images done (a line per change when not on a terminal). Exit status: 0 when
the job succeeded or is partial (some images withheld or failed, at least one delivered), 1 when it
failed or was cancelled, 2 on an API or wait error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from avatar_client.client import AvatarClient
from avatar_client.packs import withheld
from avatar_client.progress import PackProgressDisplay, describe_pack
from avatar_contract.pack_jobs import PackJobStatus

DELIVERED = (PackJobStatus.SUCCEEDED, PackJobStatus.PARTIAL)
# `avatar pack start`'s options that `AvatarClient.start_pack` takes under the same name: (name, type, help).
START_OPTIONS: tuple[tuple[str, type, str], ...] = (
    ("negative_prompt", str, "with --prompts: their default negative prompt"),
    ("images_per_prompt", int, "1-16, instead of each prompt's count"),
    ("seed", int, "image i uses seed + i (default: random, recorded)"),
    ("webhook_url", str, "HTTPS URL signed events go to, per image and at the end"),
    ("idempotency_key", str, "retrying with the same key never starts a second job"),
)


def add_pack_parser(commands: Any) -> None:
    """The `pack` command and its sub-commands, on the CLI's sub-parsers."""
    pack = commands.add_parser("pack", help="avatar packs: themed sets of images rendered in the background")
    verbs = pack.add_subparsers(dest="pack_command", required=True)
    verbs.add_parser("list", help="the packs on offer (GET /packs)")

    start = verbs.add_parser("start", help="start a pack job for a model")
    start.add_argument("model_id")
    source = start.add_mutually_exclusive_group(required=True)
    source.add_argument("--pack", help="a pack name from `avatar pack list`")
    source.add_argument(
        "--prompts", type=Path, help='JSON file: a list of {"prompt": "<<TOK>> ...", "images": N, ...}'
    )
    for name, kind, text in START_OPTIONS:
        start.add_argument("--" + name.replace("_", "-"), type=kind, help=text)
    _wait_flags(start)

    jobs = verbs.add_parser("jobs", help="a model's pack jobs, newest first")
    jobs.add_argument("model_id")

    for verb, text in (("status", "a pack job's status"), ("cancel", "cancel the images not rendered yet")):
        command = verbs.add_parser(verb, help=text)
        command.add_argument("model_id")
        command.add_argument("job_id")
        if verb == "status":
            _wait_flags(command)

    download = verbs.add_parser("download", help="save a job's delivered images as PNG files")
    download.add_argument("model_id")
    download.add_argument("job_id")
    download.add_argument("--out", type=Path, default=Path("."), help="folder (default: the current one)")


def _wait_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true", help="wait until the job is finished, with a bar")
    parser.add_argument("--out", type=Path, help="with --wait: save the delivered images in this folder")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait (default 3600)")
    parser.add_argument("--poll-interval", type=float, default=5, help="seconds between polls (default 5)")


def _print(document: Any) -> None:
    print(json.dumps(document, indent=2))


def catalogue_lines(packs: list[dict[str, Any]]) -> list[str]:
    """One line a pack: name, family, images, title and source."""
    width = max((len(pack["name"]) for pack in packs), default=0)
    return [
        f"{pack['name']:<{width}}  {pack.get('family', '')}  {pack.get('total_images', '?'):>3} images  "
        f"{pack.get('title', '')} ({pack.get('source', 'curated')})"
        for pack in packs
    ]


def _save(client: AvatarClient, model_id: str, job: dict[str, Any], out: Path) -> None:
    for path in client.download_pack(model_id, job, out):
        print(path)


def _finish(client: AvatarClient, model_id: str, job_id: str, args: argparse.Namespace) -> int:
    display = PackProgressDisplay(f"pack {job_id}")
    try:
        job = client.wait_for_pack(
            model_id, job_id, on_progress=display, timeout=args.timeout, poll=args.poll_interval
        )
    finally:
        display.done()
    print(f"pack {job_id}: {describe_pack(job)}", file=sys.stderr)
    for image in withheld(job):
        labels = ", ".join(image.get("labels") or []) or "no label given"
        print(f"image {image['index']} withheld by content moderation ({labels})", file=sys.stderr)
    if args.out:
        _save(client, model_id, job, args.out)
    else:
        _print(job)
    return 0 if job["status"] in DELIVERED else 1


def run_pack(args: argparse.Namespace, client: AvatarClient) -> int:
    verb = args.pack_command
    if getattr(args, "out", None) and verb in ("start", "status") and not args.wait:
        raise SystemExit(f"avatar pack {verb}: --out needs --wait (or `avatar pack download` later)")
    if verb == "list":
        for line in catalogue_lines(client.list_packs()):
            print(line)
        return 0
    if verb == "start":
        prompts = json.loads(args.prompts.read_text()) if args.prompts else None
        options = {name: getattr(args, name) for name, _kind, _text in START_OPTIONS}
        job = client.start_pack(args.model_id, pack=args.pack, prompts=prompts, **options)
        if not args.wait:
            _print(job)
            return 0
        print(f"pack {job['job_id']} started: {job.get('total', '?')} images", file=sys.stderr)
        return _finish(client, args.model_id, job["job_id"], args)
    if verb == "jobs":
        _print(client.list_pack_jobs(args.model_id))
        return 0
    if verb == "status":
        if args.wait:
            return _finish(client, args.model_id, args.job_id, args)
        _print(client.get_pack(args.model_id, args.job_id))
        return 0
    if verb == "cancel":
        job = client.cancel_pack(args.model_id, args.job_id)
        print(f"pack {args.job_id}: {describe_pack(job)}", file=sys.stderr)
        _print(job)
        return 0
    if verb == "download":
        job = client.get_pack(args.model_id, args.job_id)
        _save(client, args.model_id, job, args.out)
        return 0
    raise AssertionError(verb)
