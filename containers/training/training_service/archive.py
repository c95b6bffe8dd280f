"""Safe reading of the training input archive (`.tar.gz` or plain `.tar`).

Nothing is extracted to disk by the member's own name: the archive is streamed once, each member is
checked (type and path by `avatar_runtime.safe_tar.check_member`, then count and sizes) before its data
is read, and only image files and the root `config.json` are kept, in memory, under their base names.
A symlink, hard link, device, FIFO, sparse file, absolute path or `..` component rejects the whole
archive. The count and size limits cover every header block, pax and GNU long-name ones included, and
the decompressed stream as a whole (`avatar_runtime.safe_tar.TarBudget`, `open_stream`).
"""

from __future__ import annotations

import json
import lzma
import posixpath
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from avatar_runtime.safe_tar import (
    ArchiveLimitError,
    TarBudget,
    UnsafeArchiveError,
    check_member,
    open_stream,
)
from training_service.errors import InvalidInput, TooLarge
from training_service.settings import ArchiveLimits

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
CONFIG_NAME = "config.json"
_READ_CHUNK = 1 << 20


@dataclass
class TrainingInput:
    """What the archive holds that the training uses."""

    images: dict[str, bytes] = field(default_factory=dict)  # file name -> encoded image bytes
    config: dict[str, Any] | None = None
    ignored: list[str] = field(default_factory=list)  # members that are neither images nor config.json


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes:
    """Read a member's data, counting bytes as they are decompressed (never trusting the header)."""
    stream = tar.extractfile(member)
    if stream is None:
        raise InvalidInput(f"archive member {member.name!r} has no data")
    chunks: list[bytes] = []
    total = 0
    while chunk := stream.read(_READ_CHUNK):
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"archive member {member.name!r} is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def read_training_archive(source: Path | BinaryIO, limits: ArchiveLimits) -> TrainingInput:
    """Stream the archive and return its images and `config.json`; raise InvalidInput/TooLarge."""
    result = TrainingInput()
    budget = TarBudget(max_members=limits.max_members, max_bytes=limits.max_unpacked_bytes)
    try:
        fileobj = source.open("rb") if isinstance(source, Path) else source
        with fileobj, open_stream(fileobj, budget) as tar:
            for member in tar:
                name = check_member(member)
                if member.isdir():
                    continue
                budget.add(member.size)
                base = posixpath.basename(name)
                suffix = posixpath.splitext(base)[1].lower()
                if name == CONFIG_NAME:
                    if member.size > limits.max_config_bytes:
                        raise TooLarge(f"{CONFIG_NAME} is larger than {limits.max_config_bytes} bytes")
                    result.config = _parse_config(_read_member(tar, member, limits.max_config_bytes))
                elif suffix in IMAGE_SUFFIXES and not base.startswith("."):
                    if member.size > limits.max_image_bytes:
                        raise TooLarge(f"image {base!r} is larger than {limits.max_image_bytes} bytes")
                    if base in result.images:
                        raise InvalidInput(f"two images are named {base!r}")
                    result.images[base] = _read_member(tar, member, limits.max_image_bytes)
                else:
                    result.ignored.append(name)
    except ArchiveLimitError as exc:
        raise TooLarge(str(exc)) from None
    except UnsafeArchiveError as exc:
        raise InvalidInput(str(exc)) from None
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
        raise InvalidInput(f"the body is not a readable tar or tar.gz archive ({exc})") from exc
    if budget.members == 0:
        raise InvalidInput("the archive is empty")
    return result


def _parse_config(raw: bytes) -> dict[str, Any]:
    try:
        config = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{CONFIG_NAME} is not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise InvalidInput(f"{CONFIG_NAME} must hold a JSON object")
    return config
