"""Checking tar members before anything is extracted (standard library only).

An archive member is safe when its path stays inside the destination (not absolute, no drive letter,
no `..` component, no NUL) and it is a regular file or a directory: links, devices and FIFOs have no
place in a training input or a model artifact (the reference sample's unfiltered `extractall` was
exploitable exactly this way). `check_member` is shared by the training container, which streams its
input archive into memory, and by `safe_extract`, which the hosting side's multi-model loading uses.
"""

from __future__ import annotations

import posixpath
import tarfile
from pathlib import Path


class UnsafeArchiveError(ValueError):
    """A member of the archive could write outside its folder, or is not a plain file or folder."""


def check_member_name(name: str) -> str:
    """The member's normalised relative path; UnsafeArchiveError for absolute or escaping paths."""
    if not name or "\x00" in name:
        raise UnsafeArchiveError("archive member with an empty or invalid name")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"archive member {name!r} has an absolute path")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise UnsafeArchiveError(f"archive member {name!r} leaves the archive ('..' in its path)")
    return posixpath.normpath("/".join(p for p in parts if p not in ("", ".")) or ".")


def check_member(member: tarfile.TarInfo) -> str:
    """`check_member_name`, and UnsafeArchiveError unless the member is a regular file or a folder."""
    name = check_member_name(member.name)
    if not (member.isfile() or member.isdir()):
        kind = "link" if (member.issym() or member.islnk()) else "special file"
        raise UnsafeArchiveError(f"archive member {member.name!r} is a {kind}; only regular files")
    return name


def safe_extract(archive: Path | str, destination: Path | str) -> Path:
    """Extract `archive` (any compression tarfile reads) into `destination` after checking every member;
    nothing is written when one member is unsafe. Raises UnsafeArchiveError or tarfile.TarError."""
    destination = Path(destination)
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            check_member(member)
        destination.mkdir(parents=True, exist_ok=True)
        # The 'data' filter checks again while writing (and drops modes and owners we do not need).
        tar.extractall(destination, members=members, filter="data")
    return destination
