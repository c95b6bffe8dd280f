"""Republishing (issue 21 M1 migration): archives published before archives were code-free hold
`1/model.py` and a config.pbtxt naming `backend: "python"`, so the hosting container's model gate
refuses them. Only the publisher may rewrite `models/*`, so it migrates them, a page at a time, when an
operator invokes it directly (docs/deploy.md "Upgrading").

For each `models/<owner>/<model_id>.tar.gz` of a page: the archive is streamed through the project's
safe tar reader (`avatar_runtime.safe_tar`: every member checked, headers and bytes bounded) and only
its adapter and metadata are kept; an archive that already holds exactly the published layout (the
template's config.pbtxt, adapter, metadata) is left alone. The adapter and metadata get exactly the
checks a staged model gets (`avatar_contract.publishing`), the archive is rebuilt from the template
(`package_user_model`) and written only if the object still has the ETag it was read with, so a model
deleted or published meanwhile is not undone. The verdict goes to `keys.republication_key`; a refused
archive is reported and kept.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import zlib
from pathlib import Path
from tarfile import TarError
from typing import IO, Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from avatar_api.adapters.aws import Bucket
from avatar_contract import keys
from avatar_contract.families import ARTIFACT_FAMILY_METADATA, family_of
from avatar_contract.names import Prefix, Triton
from avatar_contract.publishing import (
    MAX_ADAPTER_BYTES,
    MAX_METADATA_BYTES,
    InvalidStagedModel,
    Republication,
    check_adapter,
    check_metadata,
)
from avatar_runtime.artifact import USER_TEMPLATE, artifact_members, package_user_model
from avatar_runtime.safe_tar import TarBudget, UnsafeArchiveError, check_member, open_stream

log = logging.getLogger(__name__)

Verdict = Literal["republished", "current", "refused", "changed"]
# An old archive: config.pbtxt, 1/model.py, the adapter, the metadata and their folders.
MAX_MEMBERS = 16
MAX_CODE_BYTES = 1024**2  # the old template's config.pbtxt and model.py are a few KB


class RepublishRequest(BaseModel):
    """`{"republish": {...}}`, the event an operator sends the publisher function."""

    model_config = ConfigDict(extra="forbid")

    owner_prefix: str = Field(default="", max_length=32, pattern=r"^[0-9a-f]*$")
    limit: int = Field(default=10, ge=1, le=100)
    continuation: str | None = Field(default=None, max_length=2048)


class RepublishReport(BaseModel):
    republished: list[str] = []
    current: list[str] = []
    changed: list[str] = []
    refused: dict[str, str] = {}
    continuation: str | None = None


def republish_page(hosting: Bucket, data: Bucket, request: RepublishRequest) -> RepublishReport:
    """Republish up to `request.limit` archives under `models/<owner_prefix>`; the report names each
    by key, and `continuation` is where the next invocation goes on (None: the listing is done)."""
    listing: dict[str, Any] = {
        "Bucket": hosting.name,
        "Prefix": Prefix.MODELS + request.owner_prefix,
        "MaxKeys": request.limit,
    }
    if request.continuation:
        listing["ContinuationToken"] = request.continuation
    page = hosting.client.list_objects_v2(**listing)
    report = RepublishReport(
        continuation=page.get("NextContinuationToken") if page.get("IsTruncated") else None
    )
    for item in page.get("Contents", []):
        key, etag = item["Key"], str(item["ETag"])
        try:
            verdict = republish(hosting, data, key, etag)
        except InvalidStagedModel as refused:
            log.warning("archive not republished", extra={"key": key, "reason": str(refused)})
            report.refused[key] = str(refused)
            continue
        getattr(report, verdict).append(key)
    log.info("republish page", extra={"report": report.model_dump(mode="json")})
    return report


def republish(hosting: Bucket, data: Bucket, key: str, etag: str) -> Verdict:
    """Republish one archive read at `etag`. InvalidStagedModel (verdict recorded) when it is not a
    model the publisher would publish; "changed" when it was replaced or deleted meanwhile."""
    owner, model_id = _names(key)
    with tempfile.TemporaryDirectory(prefix="republish-") as work:
        adapter = Path(work) / Triton.ADAPTER_FILE
        try:
            response = hosting.client.get_object(Bucket=hosting.name, Key=key, IfMatch=etag)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"PreconditionFailed", "412", "NoSuchKey"}:
                return "changed"
            raise
        try:
            raw_metadata, code_free = _read_archive(response["Body"], model_id, adapter)
            metadata = check_metadata(raw_metadata, owner=owner, training_id=None, model_id=model_id)
            with adapter.open("rb") as stream:
                check_adapter(stream, adapter.stat().st_size, metadata)
        except InvalidStagedModel as refused:
            _verdict(data, owner, Republication(model_id=model_id, status="refused", reason=str(refused)))
            raise
        if code_free:
            return "current"
        archive = package_user_model(
            model_id, adapter, metadata.model_dump(mode="json"), Path(work) / "model.tar.gz"
        )
        try:
            with archive.open("rb") as body:
                hosting.client.put_object(
                    Bucket=hosting.name, Key=key, Body=body, ContentType="application/gzip", IfMatch=etag,
                    Metadata={ARTIFACT_FAMILY_METADATA: str(family_of(metadata.model_dump(mode="json")))},
                )  # fmt: skip
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {
                "PreconditionFailed", "ConditionalRequestConflict", "412", "409", "NoSuchKey",
            }:  # fmt: skip
                return "changed"
            raise
    _verdict(data, owner, Republication(
        model_id=model_id, training_id=metadata.training_id, status="republished",
    ))  # fmt: skip
    log.info("model republished", extra={"key": key})
    return "republished"


def _names(key: str) -> tuple[str, str]:
    owner, _, name = key.removeprefix(Prefix.MODELS).partition("/")
    model_id = name.removesuffix(".tar.gz")
    if not (keys.OWNER_RE.fullmatch(owner) and keys.MODEL_ID_RE.fullmatch(model_id)) or not name.endswith(
        ".tar.gz"
    ):
        raise InvalidStagedModel("not a model archive (models/<owner>/<model_id>.tar.gz)")
    return owner, model_id


def _read_archive(body: IO[bytes], model_id: str, adapter: Path) -> tuple[bytes, bool]:
    """Stream the archive: the adapter written to `adapter`, the metadata returned, and whether the
    archive holds exactly the code-free layout already. Every member is checked (`check_member`)."""
    budget = TarBudget(
        max_members=MAX_MEMBERS, max_bytes=MAX_ADAPTER_BYTES + MAX_METADATA_BYTES + MAX_CODE_BYTES
    )
    wanted = {
        f"{model_id}/{Triton.VERSION_DIR}/{Triton.ADAPTER_FILE}": MAX_ADAPTER_BYTES,
        f"{model_id}/{Triton.VERSION_DIR}/{Triton.METADATA_FILE}": MAX_METADATA_BYTES,
        f"{model_id}/{Triton.CONFIG_FILE}": MAX_CODE_BYTES,
    }
    files: dict[str, bytes] = {}
    try:
        with open_stream(body, budget) as tar:
            for member in tar:
                name = check_member(member)
                if member.isdir():
                    continue
                budget.add(member.size)
                if name in files or (name in wanted and member.size > wanted[name]):
                    raise InvalidStagedModel(f"archive member {name!r} is repeated or too large")
                files[name] = b""
                source = tar.extractfile(member)
                if source is None:
                    continue
                if name.endswith(Triton.ADAPTER_FILE) and name in wanted:
                    with adapter.open("wb") as sink:
                        shutil.copyfileobj(source, sink)
                else:
                    files[name] = source.read(MAX_CODE_BYTES + 1)
    except (UnsafeArchiveError, TarError, OSError, EOFError, zlib.error) as error:
        raise InvalidStagedModel(f"the archive is unreadable or unsafe: {error}") from None
    metadata = files.get(f"{model_id}/{Triton.VERSION_DIR}/{Triton.METADATA_FILE}")
    if metadata is None or not adapter.is_file():
        raise InvalidStagedModel("the archive holds no adapter and metadata")
    config = files.get(f"{model_id}/{Triton.CONFIG_FILE}")
    code_free = (
        set(files) == artifact_members(model_id)
        and config == (USER_TEMPLATE / Triton.CONFIG_FILE).read_bytes()
    )
    return metadata, code_free


def _verdict(data: Bucket, owner: str, verdict: Republication) -> None:
    data.put_json(keys.republication_key(owner, verdict.model_id), verdict.model_dump(mode="json"))
