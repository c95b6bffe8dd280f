"""Checking tar members before anything is extracted (standard library only).

An archive member is safe when its path stays inside the destination (not absolute, no drive letter,
no `..` component, no NUL) and it is a regular file or a directory: links, devices and FIFOs have no
place in a training input or a model artifact (the reference sample's unfiltered `extractall` was
exploitable exactly this way). `check_member` is shared by the training container, which streams its
input archive into memory, and by `safe_extract`, which the hosting side's multi-model loading uses.

Bounds (`TarBudget`): tarfile reads a pax or GNU long-name header's data whole, before the member it
describes, and merges it into that member, so a count of the members tarfile yields misses them (a
400 KB archive with one 800 MiB pax header used 818 MiB). The budget's `TarInfo` class sees every header
block as tarfile parses it (`_proc_member`, the hook tarfile documents for subclasses): each one counts
as a member, an extended header's data counts toward the byte limit and may not exceed
`max_header_bytes` (refused before it is read; that also bounds the pax-parsing regex of
CVE-2024-6232 on interpreters without its fix), and sparse members are refused. `open_stream` also
caps the decompressed bytes tarfile may read at all, whatever it reads them for.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, cast

# One pax or GNU long-name header's data: a path of PATH_MAX (4096) and the usual records fit. Small on
# purpose: the pax parser of CPython before 3.11.10 / 3.12.6 (CVE-2024-6232) is quadratic in it.
MAX_HEADER_BYTES: Final = 8 * 2**10
EXTENDED_HEADER_TYPES: Final = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)
# CPython releases whose tarfile has the fixes for CVE-2024-6232 (3.11.10, 3.12.6) and the extraction
# filter bypasses of June 2025 (CVE-2025-4517, -4138, -4330, -4435, CVE-2024-12718: 3.11.13, 3.12.11,
# 3.13.4). Newer minor versions than listed have them all.
TARFILE_FIXED_RELEASES: Final = {(3, 11): (3, 11, 13), (3, 12): (3, 12, 11), (3, 13): (3, 13, 4)}


class UnsafeArchiveError(ValueError):
    """A member of the archive could write outside its folder, or is not a plain file or folder."""


class ArchiveLimitError(UnsafeArchiveError):
    """The archive has more members or bytes than its budget allows (extended headers included)."""


def python_has_tarfile_fixes(version: tuple[int, ...]) -> bool:
    """Whether a CPython `version` (`sys.version_info[:3]`) has the tarfile fixes above. Distribution
    builds (Debian's 3.11.2) may carry them as patches: this checks the upstream release only."""
    major_minor = (version[0], version[1])
    if major_minor in TARFILE_FIXED_RELEASES:
        return tuple(version[:3]) >= TARFILE_FIXED_RELEASES[major_minor]
    return major_minor > max(TARFILE_FIXED_RELEASES)


@dataclass
class TarBudget:
    """Counts every header block (pax and GNU long-name ones too) and the bytes they and the members
    hold; raises ArchiveLimitError past a limit. Pass `tarinfo_class()` to `tarfile.open`."""

    max_members: int
    max_bytes: int
    max_header_bytes: int = MAX_HEADER_BYTES
    members: int = 0
    bytes: int = 0

    def header(self, info: tarfile.TarInfo) -> None:
        """One header block as tarfile parses it, before any data it announces is read."""
        self.members += 1
        if self.members > self.max_members:
            raise ArchiveLimitError(
                f"the archive has more than {self.max_members} members "
                "(pax and GNU long-name headers count as members)"
            )
        if info.type == tarfile.GNUTYPE_SPARSE:
            raise UnsafeArchiveError(f"archive member {info.name!r} is a sparse file; only regular files")
        if info.type in EXTENDED_HEADER_TYPES:
            if info.size > self.max_header_bytes:
                raise ArchiveLimitError(
                    f"an archive header (pax or GNU long name) holds {info.size} bytes; "
                    f"the limit is {self.max_header_bytes}"
                )
            self.add(info.size)

    def add(self, size: int) -> None:
        """Bytes of member data (the caller adds each member's final size, pax `size` applied)."""
        self.bytes += size
        if self.bytes > self.max_bytes:
            raise ArchiveLimitError(f"the archive unpacks to more than {self.max_bytes} bytes")

    def stream_limit(self) -> int:
        """The most decompressed bytes a tar within this budget can take: data, one header and padding
        per member, the end-of-archive blocks and the last record's padding."""
        return self.max_bytes + (self.max_members + 2) * 2 * tarfile.BLOCKSIZE + 2 * tarfile.RECORDSIZE

    def tarinfo_class(self) -> type[tarfile.TarInfo]:
        # The one private API left (issue 22 item 7): tarfile has no public hook that sees each header,
        # pax and GNU long-name blocks included, before their announced data is read. `_proc_member` is
        # where every member passes, on every CPython 3.11+ we ship; overriding the public
        # `TarInfo.frombuf` instead was tried and broke extraction on Debian's 3.11.2 (the images' smoke
        # run read "the archive is empty").
        # tests/unit/training/test_archive_headers.py pins the behaviour: a huge pax or long-name
        # header is refused before its data is read.
        budget = self

        class BudgetedTarInfo(tarfile.TarInfo):
            def _proc_member(self, tar: tarfile.TarFile) -> Any:
                budget.header(self)
                return super()._proc_member(tar)  # type: ignore[misc]

        return BudgetedTarInfo


class _CappedReader:
    """A read-only stream that refuses to deliver more than `limit` bytes in total."""

    def __init__(self, raw: IO[bytes], limit: int, head: bytes = b"") -> None:
        self._raw, self._limit, self._head, self.total = raw, limit, head, 0

    def read(self, size: int | None = -1) -> bytes:
        allowed = self._limit - self.total + 1  # one byte more than the limit shows it was passed
        size = allowed if size is None or size < 0 else min(size, allowed)
        data, self._head = self._head[:size], self._head[size:]
        if len(data) < size:
            data += self._raw.read(size - len(data))
        self.total += len(data)
        if self.total > self._limit:
            raise ArchiveLimitError(f"the archive unpacks to more than {self._limit} bytes of tar data")
        return data


def _decompressed(fileobj: IO[bytes]) -> tuple[IO[bytes], bytes]:
    """The stream decompressed by its magic bytes (gzip, bzip2, xz, or a plain tar), and the bytes
    already read from a plain tar's start."""
    head = fileobj.read(6)
    chained = cast(IO[bytes], _CappedReader(fileobj, 2**62, head))
    if head.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=chained, mode="rb")), b""
    if head.startswith(b"BZh"):
        return cast(IO[bytes], bz2.BZ2File(chained, mode="rb")), b""
    if head.startswith(b"\xfd7zXZ\x00"):
        return cast(IO[bytes], lzma.LZMAFile(chained, mode="rb")), b""
    return fileobj, head


def open_stream(fileobj: IO[bytes], budget: TarBudget) -> tarfile.TarFile:
    """Stream-read a tar (compressed or not) within `budget`: every header block is counted as tarfile
    parses it and the decompressed bytes are capped. ArchiveLimitError/UnsafeArchiveError past it;
    tarfile.TarError, OSError, EOFError, zlib/lzma errors for unreadable input."""
    stream, head = _decompressed(fileobj)
    capped = cast(IO[bytes], _CappedReader(stream, budget.stream_limit(), head))
    return tarfile.open(fileobj=capped, mode="r|", tarinfo=budget.tarinfo_class())


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


def safe_extract(
    archive: Path | str, destination: Path | str, max_members: int = 10_000, max_bytes: int = 8 * 2**30
) -> Path:
    """Extract `archive` (any compression tarfile reads) into `destination` after checking every member
    and the budget (header blocks, extended headers and bytes counted); nothing is written when one
    member is unsafe. Raises UnsafeArchiveError (ArchiveLimitError past the budget) or tarfile.TarError."""
    destination = Path(destination)
    budget = TarBudget(max_members=max_members, max_bytes=max_bytes)
    with tarfile.open(archive, tarinfo=budget.tarinfo_class()) as tar:
        members = tar.getmembers()
        for member in members:
            check_member(member)
            if member.isfile():
                budget.add(member.size)
        destination.mkdir(parents=True, exist_ok=True)
        # The 'data' filter checks again while writing (and drops modes and owners we do not need).
        tar.extractall(destination, members=members, filter="data")
    return destination
